import crypto from 'node:crypto';

/** A verification key as configured: algorithm pinned, so a token cannot pick a weaker one. */
export interface JwtKey {
  readonly kid: string | null;
  readonly alg: string;
  readonly key: crypto.KeyObject;
}

export interface JwtOptions {
  readonly keys: readonly JwtKey[];
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
  readonly leewaySeconds: number;
}

export type JwtResult = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string };

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/**
 * Verifies a compact JWS (HS*, RS*, ES*) and its time and audience claims.
 * `alg: none` and any algorithm not configured for the key are refused.
 */
export function verifyJwt(token: string, options: JwtOptions, nowSeconds = Date.now() / 1000): JwtResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'not a compact JWS' };
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: unknown; kid?: unknown };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'header or payload is not base64url JSON' };
  }
  if (typeof header !== 'object' || header === null || typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    return { ok: false, reason: 'header or payload is not a JSON object' };
  }
  const candidates = options.keys.filter((k) => k.alg === header.alg && (header.kid === undefined || k.kid === null || k.kid === header.kid));
  if (candidates.length === 0) return { ok: false, reason: `no configured key for alg ${String(header.alg)}` };
  const signingInput = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  if (!candidates.some((k) => verifySignature(k, signingInput, signature))) return { ok: false, reason: 'bad signature' };

  const leeway = options.leewaySeconds;
  if (typeof claims.exp === 'number' && nowSeconds > claims.exp + leeway) return { ok: false, reason: 'expired' };
  if (typeof claims.nbf === 'number' && nowSeconds + leeway < claims.nbf) return { ok: false, reason: 'not yet valid' };
  if (options.issuer !== undefined && claims.iss !== options.issuer) return { ok: false, reason: 'wrong issuer' };
  if (options.audience !== undefined) {
    const aud = claims.aud;
    const ok = Array.isArray(aud) ? aud.includes(options.audience) : aud === options.audience;
    if (!ok) return { ok: false, reason: 'wrong audience' };
  }
  return { ok: true, claims };
}

function verifySignature(k: JwtKey, input: Buffer, signature: Buffer): boolean {
  const hash = HASH[k.alg.slice(2)];
  if (!hash) return false;
  try {
    if (k.alg.startsWith('HS')) {
      const expected = crypto.createHmac(hash, k.key).update(input).digest();
      return expected.length === signature.length && crypto.timingSafeEqual(expected, signature);
    }
    if (k.alg.startsWith('RS')) return crypto.verify(hash, input, k.key, signature);
    // ES*: JWS carries the raw r||s form, not DER.
    return crypto.verify(hash, input, { key: k.key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** Builds the KeyObject for a configured key, or says why it cannot. */
export function jwtKeyObject(alg: string, material: string): crypto.KeyObject | string {
  try {
    if (alg.startsWith('HS')) return crypto.createSecretKey(Buffer.from(material, 'utf8'));
    const key = crypto.createPublicKey(material);
    const want = alg.startsWith('RS') ? 'rsa' : 'ec';
    return key.asymmetricKeyType === want ? key : `is a ${key.asymmetricKeyType} key, ${alg} needs ${want}`;
  } catch (err) {
    return `is not a PEM public key (${(err as Error).message})`;
  }
}
