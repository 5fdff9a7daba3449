import type { ModeSetting } from '../config/schema';
import type { CompiledRoute } from './table';

/** The scope of a mode setting: one tenant, or every tenant of the route. */
export const ALL_TENANTS = '*';

/**
 * Mode settings from the control store, by route id then scope. Immutable:
 * a change builds a new one and swaps it in.
 */
export type ModeOverrides = ReadonlyMap<string, ReadonlyMap<string, ModeSetting>>;

export const NO_OVERRIDES: ModeOverrides = new Map();

/**
 * The mode a route has for a tenant. The most specific setting wins: the
 * store's tenant setting, the store's route-wide setting, then what the file
 * declares for the tenant, then the file's route default.
 */
export function effectiveMode(route: CompiledRoute, tenant: string, overrides: ModeOverrides): ModeSetting {
  const o = overrides.get(route.id);
  if (o !== undefined) {
    const forTenant = o.get(tenant) ?? o.get(ALL_TENANTS);
    if (forTenant !== undefined) return forTenant;
  }
  return route.declared.tenants[tenant] ?? route.declared.default;
}

/** Every scope a route declares in the file: route-wide plus each tenant override. */
export function declaredScopes(route: CompiledRoute): Array<[string, ModeSetting]> {
  return [[ALL_TENANTS, route.declared.default], ...Object.entries(route.declared.tenants)];
}

export function sameSetting(a: ModeSetting | null | undefined, b: ModeSetting | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.mode === b.mode && (a.percent ?? null) === (b.percent ?? null);
}

export function formatSetting(s: ModeSetting | null | undefined): string {
  if (!s) return '(default)';
  return s.mode === 'canary' ? `canary ${s.percent}%` : s.mode;
}
