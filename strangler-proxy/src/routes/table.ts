import type { Mode, ModeSetting, RouteConfig } from '../config/schema';
import { compileRules, type CompiledRules, type ParityRules } from '../parity/compare';
import { type PathTemplate, splitPath } from './path-template';

/** One route, compiled: immutable, matched without touching the config again. */
export interface CompiledRoute {
  readonly id: string;
  /** Position in the file (0-based), for messages. */
  readonly index: number;
  /** Upper-case methods, or null for any. */
  readonly methods: ReadonlySet<string> | null;
  readonly host: string | null;
  readonly header: { readonly name: string; readonly value: string } | null;
  readonly template: PathTemplate;
  readonly service: string | null;
  readonly stickyBy: 'tenant' | 'user' | 'header';
  readonly stickyHeader: string | null;
  readonly mirrorWrites: boolean;
  /** Share of mirrorable requests copied in shadow mode, or null for the top-level shadow.sampleRate. */
  readonly shadowSampleRate: number | null;
  /** How answers on this route are compared. */
  readonly parity: CompiledRules;
  /** The same rules as written (rule suggestions are checked against them). */
  readonly parityRules: Readonly<ParityRules>;
  /** Automatic moves by parity, or null. */
  readonly gate: NonNullable<RouteConfig['gate']> | null;
  /** What the file declares: the default and per-tenant settings. */
  readonly declared: DeclaredModes;
}

export interface DeclaredModes {
  readonly default: ModeSetting;
  readonly tenants: Readonly<Record<string, ModeSetting>>;
}

/** The ordered routes; first match wins. Built once per config, swapped whole. */
export interface RouteTable {
  readonly routes: readonly CompiledRoute[];
  readonly byId: ReadonlyMap<string, CompiledRoute>;
  match(method: string, path: string, host: string, headers: Readonly<Record<string, string | string[] | undefined>>): CompiledRoute | null;
}

export function compileRoute(config: RouteConfig, index: number, template: PathTemplate): CompiledRoute {
  const methods = config.match.method === undefined ? null : new Set(Array.isArray(config.match.method) ? config.match.method : [config.match.method]);
  const declaredDefault: ModeSetting = config.mode === 'canary' ? { mode: 'canary', percent: config.percent ?? 0 } : { mode: config.mode };
  return Object.freeze({
    id: config.id,
    index,
    methods: methods && Object.freeze(methods),
    host: config.match.host?.toLowerCase() ?? null,
    header: config.match.header ? Object.freeze({ ...config.match.header }) : null,
    template,
    service: config.service ?? null,
    stickyBy: config.canary.stickyBy,
    stickyHeader: config.canary.header ?? null,
    mirrorWrites: config.shadow.mirrorWrites,
    shadowSampleRate: config.shadow.sampleRate ?? null,
    parity: Object.freeze(compileRules(config.parity)),
    parityRules: Object.freeze({ ...config.parity }),
    gate: config.gate ? Object.freeze(config.gate) : null,
    declared: Object.freeze({
      default: Object.freeze(declaredDefault),
      tenants: Object.freeze(Object.fromEntries(Object.entries(config.tenants).map(([t, m]) => [t, Object.freeze({ ...m })]))),
    }),
  });
}

export function buildTable(routes: readonly CompiledRoute[]): RouteTable {
  const frozen = Object.freeze([...routes]);
  const byId = new Map(frozen.map((r) => [r.id, r]));
  const table: RouteTable = {
    routes: frozen,
    byId,
    match(method, path, host, headers) {
      if (frozen.length === 0) return null;
      const segments = splitPath(path);
      for (const r of frozen) {
        if (r.methods !== null && !r.methods.has(method)) continue;
        if (r.host !== null && r.host !== host) continue;
        if (r.header !== null && headers[r.header.name] !== r.header.value) continue;
        if (r.template.matches(segments)) return r;
      }
      return null;
    },
  };
  return Object.freeze(table);
}

export type { Mode, ModeSetting };
