import type { IncomingHttpHeaders } from 'node:http';
import type { CompiledConfig } from '../config/compile';
import { verifyJwt } from './jwt';

export type TenantResolution =
  | { readonly ok: true; readonly tenant: string; readonly user: string | null }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

/**
 * Finds the tenant of a request. Every configured source that speaks must
 * agree; a tenant header only counts from a trusted hop (anyone else's is
 * ignored, and stripped before forwarding); a JWT only counts once verified.
 * There is no default tenant: unresolved means refused.
 */
export function resolveTenant(cfg: CompiledConfig, headers: IncomingHttpHeaders, peer: string | undefined): TenantResolution {
  // No closure here: this runs for every request.
  let tenant: string | null = null;
  let from = '';
  let user: string | null = null;

  const hdr = cfg.tenancy.header;
  if (hdr !== null) {
    const v = headers[hdr.name];
    if (typeof v === 'string' && v !== '' && hdr.trusted(peer)) {
      from = `header ${hdr.name}`;
      const refused = refusal(cfg, v, from, null, '');
      if (refused) return refused;
      tenant = v;
    }
  }

  const jwt = cfg.tenancy.jwt;
  if (jwt !== null) {
    const auth = headers.authorization;
    if (typeof auth === 'string' && /^bearer /i.test(auth)) {
      const result = verifyJwt(auth.slice(7).trim(), jwt);
      if (!result.ok) return { ok: false, status: 401, code: 'STR_ERR_PROXY_TOKEN_INVALID', message: `bearer token refused: ${result.reason}` };
      const value = result.claims[jwt.claim];
      if (typeof value !== 'string') {
        return { ok: false, status: 401, code: 'STR_ERR_PROXY_TOKEN_INVALID', message: `bearer token has no string claim "${jwt.claim}"` };
      }
      if (typeof result.claims.sub === 'string') user = result.claims.sub;
      const source = `token claim ${jwt.claim}`;
      const refused = refusal(cfg, value, source, tenant, from);
      if (refused) return refused;
      tenant = value;
      from = source;
    }
  }

  if (cfg.tenancy.byHost) {
    const host = hostName(headers.host);
    const byHost = host === null ? undefined : cfg.hostToTenant.get(host);
    if (byHost !== undefined) {
      const refused = refusal(cfg, byHost, `host ${host}`, tenant, from);
      if (refused) return refused;
      tenant = byHost;
    }
  }

  if (tenant === null) {
    const hosts = [...cfg.hostToTenant.keys()];
    return {
      ok: false,
      status: 400,
      code: 'STR_ERR_PROXY_TENANT_UNRESOLVED',
      message: `cannot tell which tenant this request is for${hosts.length > 0 ? `: send it to a tenant's host (${hosts.slice(0, 5).join(', ')})` : ''}`,
    };
  }
  return { ok: true, tenant, user };
}

/** Why `source`'s claim of `candidate` is refused (unknown, or not what an earlier source said), or null. */
function refusal(cfg: CompiledConfig, candidate: string, source: string, tenant: string | null, from: string): TenantResolution | null {
  if (!cfg.tenants.has(candidate)) {
    return { ok: false, status: 403, code: 'STR_ERR_PROXY_TENANT_UNKNOWN', message: `${source} names tenant "${candidate}", which this proxy does not serve` };
  }
  if (tenant !== null && tenant !== candidate) {
    return { ok: false, status: 403, code: 'STR_ERR_PROXY_TENANT_CONFLICT', message: `${source} says tenant "${candidate}" but ${from} says "${tenant}"` };
  }
  return null;
}

/**
 * "Acme.Localhost:8080" → "acme.localhost"; a fully qualified "acme.localhost."
 * names the same host (as nginx reads it); IPv6 literals keep their brackets.
 */
export function hostName(host: string | undefined): string | null {
  if (!host) return null;
  const h = host.toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end < 0 ? null : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  const name = colon < 0 ? h : h.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}
