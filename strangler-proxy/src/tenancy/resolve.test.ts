import crypto from 'node:crypto';
import { compileConfig } from '../config/compile';
import { verifyJwt } from './jwt';
import { hostName, resolveTenant } from './resolve';

const SECRET = 'jwt-secret-for-tests-only-0123456789';
const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });

function sign(claims: Record<string, unknown>, alg = 'HS256', key: crypto.KeyLike = SECRET): string {
  const h = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
  const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${h}.${p}`;
  const sig =
    alg === 'none' ? Buffer.alloc(0) : alg.startsWith('HS') ? crypto.createHmac('sha256', key as string).update(input).digest() : crypto.sign('sha256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

const cfg = compileConfig(
  {
    admin: { tokens: [{ name: 'ops', role: 'write', token: { value: 'a-long-enough-token' } }] },
    controlStore: { url: { value: 'postgres://x@127.0.0.1/x' } },
    tenancy: {
      header: { name: 'x-strangler-tenant', trustedHops: ['10.0.0.0/8'] },
      jwt: {
        claim: 'tenant',
        issuer: 'https://idp.example',
        keys: [
          { alg: 'HS256', key: { value: SECRET } },
          { alg: 'RS256', key: { value: publicKey.export({ type: 'spki', format: 'pem' }).toString() } },
        ],
      },
    },
    tenants: { acme: { monolith: 'http://127.0.0.1:1', hosts: ['acme.localhost'] }, globex: { monolith: 'http://127.0.0.1:2', hosts: ['globex.localhost'] } },
  },
  'test',
);

describe('tenant resolution', () => {
  it('resolves by host, ignoring case and port', () => {
    expect(resolveTenant(cfg, { host: 'ACME.localhost:8080' }, '127.0.0.1')).toEqual({ ok: true, tenant: 'acme', user: null });
  });

  it('ignores a tenant header sent by an ordinary client', () => {
    expect(resolveTenant(cfg, { host: 'globex.localhost', 'x-strangler-tenant': 'acme' }, '203.0.113.9')).toEqual({ ok: true, tenant: 'globex', user: null });
    const noHost = resolveTenant(cfg, { host: 'unknown.example', 'x-strangler-tenant': 'acme' }, '203.0.113.9');
    expect(noHost).toMatchObject({ ok: false, status: 400, code: 'STR_ERR_PROXY_TENANT_UNRESOLVED' });
  });

  it('believes the tenant header from a trusted hop, and refuses when it contradicts the host', () => {
    expect(resolveTenant(cfg, { host: 'gw.internal', 'x-strangler-tenant': 'acme' }, '10.1.2.3')).toMatchObject({ ok: true, tenant: 'acme' });
    expect(resolveTenant(cfg, { host: 'gw.internal', 'x-strangler-tenant': 'acme' }, '::ffff:10.1.2.3')).toMatchObject({ ok: true, tenant: 'acme' });
    expect(resolveTenant(cfg, { host: 'globex.localhost', 'x-strangler-tenant': 'acme' }, '10.1.2.3')).toMatchObject({ ok: false, status: 403, code: 'STR_ERR_PROXY_TENANT_CONFLICT' });
    expect(resolveTenant(cfg, { host: 'gw', 'x-strangler-tenant': 'initech' }, '10.1.2.3')).toMatchObject({ ok: false, status: 403, code: 'STR_ERR_PROXY_TENANT_UNKNOWN' });
  });

  it('resolves by a verified JWT claim and takes the user from sub', () => {
    const token = sign({ tenant: 'globex', sub: 'u-1', iss: 'https://idp.example', exp: Date.now() / 1000 + 60 });
    expect(resolveTenant(cfg, { host: 'api.example', authorization: `Bearer ${token}` }, '203.0.113.9')).toEqual({ ok: true, tenant: 'globex', user: 'u-1' });
    const rs = sign({ tenant: 'acme', iss: 'https://idp.example' }, 'RS256', privateKey);
    expect(resolveTenant(cfg, { host: 'api.example', authorization: `Bearer ${rs}` }, '203.0.113.9')).toMatchObject({ ok: true, tenant: 'acme' });
  });

  it('refuses forged, expired, unsigned and misissued tokens with 401', () => {
    const now = Date.now() / 1000;
    const cases = [
      [sign({ tenant: 'acme', iss: 'https://idp.example' }, 'HS256', 'wrong-secret'), 'bad signature'],
      [sign({ tenant: 'acme', iss: 'https://idp.example', exp: now - 3600 }), 'expired'],
      [sign({ tenant: 'acme', iss: 'https://idp.example' }, 'none'), 'no configured key for alg none'],
      [sign({ tenant: 'acme', iss: 'https://evil.example' }), 'wrong issuer'],
      ['abc.def', 'not a compact JWS'],
    ] as const;
    for (const [token, reason] of cases) {
      expect(resolveTenant(cfg, { host: 'acme.localhost', authorization: `Bearer ${token}` }, '127.0.0.1')).toEqual({
        ok: false,
        status: 401,
        code: 'STR_ERR_PROXY_TOKEN_INVALID',
        message: `bearer token refused: ${reason}`,
      });
    }
  });

  it('refuses a token whose tenant contradicts the host', () => {
    const token = sign({ tenant: 'globex', iss: 'https://idp.example' });
    expect(resolveTenant(cfg, { host: 'acme.localhost', authorization: `Bearer ${token}` }, '127.0.0.1')).toMatchObject({ ok: false, code: 'STR_ERR_PROXY_TENANT_CONFLICT' });
  });

  it('accepts exp within the leeway', () => {
    const token = sign({ exp: 1000 });
    expect(verifyJwt(token, { keys: cfg.tenancy.jwt!.keys, leewaySeconds: 30 }, 1020)).toMatchObject({ ok: true });
    expect(verifyJwt(token, { keys: cfg.tenancy.jwt!.keys, leewaySeconds: 30 }, 1031)).toEqual({ ok: false, reason: 'expired' });
  });

  it('parses host names', () => {
    expect(hostName('[::1]:8080')).toBe('[::1]');
    expect(hostName('Acme.Localhost:8080')).toBe('acme.localhost');
    expect(hostName('acme.localhost.')).toBe('acme.localhost');
    expect(hostName('acme.localhost.:8080')).toBe('acme.localhost');
    expect(hostName(undefined)).toBeNull();
  });
});
