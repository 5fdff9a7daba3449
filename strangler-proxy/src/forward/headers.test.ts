import { acceptRequestId, HOP_BY_HOP, requestHeaders, responseHeaders, withoutCookie, writtenAt } from './headers';

const ctx = {
  peer: '203.0.113.7',
  trustedPeer: false,
  host: '127.0.0.1:9000',
  proto: 'http',
  via: 'strangler',
  requestId: 'req-1',
  drop: new Set(['x-strangler-tenant']),
};

function asRecord(flat: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < flat.length; i += 2) (out[flat[i]!.toLowerCase()] ??= []).push(flat[i + 1]!);
  return out;
}

describe('request headers', () => {
  it.each([...HOP_BY_HOP])('drops hop-by-hop header %s', (name) => {
    const out = asRecord(requestHeaders([name, 'x', 'Accept', 'a/b'], ctx));
    expect(out[name]).toBeUndefined();
    expect(out.accept).toEqual(['a/b']);
  });

  it('drops Expect: the proxy met it with the client (100 Continue) and the upstream never sees one', () => {
    const out = asRecord(requestHeaders(['Expect', '100-continue', 'Content-Length', '5'], ctx));
    expect(out.expect).toBeUndefined();
    expect(out['content-length']).toEqual(['5']);
  });

  it("takes the proxy's own cookie out of every Cookie header, keeps the rest, and drops a header left empty", () => {
    const raw = ['Cookie', 'a=1; strangler-written=42; b=2', 'cookie', 'strangler-written=43', 'Cookie', 'c=3'];
    expect(asRecord(requestHeaders(raw, { ...ctx, dropCookie: ['strangler-written'] })).cookie).toEqual(['a=1; b=2', 'c=3']);
    // Off (no read-your-writes): passed as they are.
    expect(asRecord(requestHeaders(raw, ctx)).cookie).toEqual(['a=1; strangler-written=42; b=2', 'strangler-written=43', 'c=3']);
  });

  it('withoutCookie removes only pairs of that exact name', () => {
    const name = 'strangler-written';
    expect(withoutCookie('a=1', name)).toBe('a=1');
    expect(withoutCookie('strangler-written=1', name)).toBe('');
    expect(withoutCookie('x-strangler-written=1;strangler-written=2 ;  b=3', name)).toBe('x-strangler-written=1; b=3');
    expect(withoutCookie('a=strangler-written;strangler-written-2=1', name)).toBe('a=strangler-written;strangler-written-2=1');
    expect(withoutCookie(' strangler-written = 5; a=1', name)).toBe('a=1');
  });

  it('drops every header named in Connection, in any case and across several Connection headers', () => {
    const raw = ['Connection', 'close, X-Secret', 'connection', ' x-other ', 'X-Secret', '1', 'X-Other', '2', 'X-Kept', '3'];
    const out = asRecord(requestHeaders(raw, ctx));
    expect(out['x-secret']).toBeUndefined();
    expect(out['x-other']).toBeUndefined();
    expect(out['x-kept']).toEqual(['3']);
  });

  it('keeps original case and order of end-to-end headers, and passes traceparent through', () => {
    const raw = ['X-B', '1', 'traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'X-A', '2'];
    const out = requestHeaders(raw, ctx);
    expect(out.slice(0, 6)).toEqual(raw);
  });

  it('sets Host to the upstream authority deliberately and keeps the client host as X-Forwarded-Host', () => {
    const out = asRecord(requestHeaders(['Host', 'acme.localhost:8080'], ctx));
    expect(out.host).toEqual(['127.0.0.1:9000']);
    expect(out['x-forwarded-host']).toEqual(['acme.localhost:8080']);
  });

  it('adds Via, extending one the client sent', () => {
    expect(asRecord(requestHeaders([], ctx)).via).toEqual(['1.1 strangler']);
    expect(asRecord(requestHeaders(['Via', '1.0 corp-gw'], ctx)).via).toEqual(['1.0 corp-gw, 1.1 strangler']);
  });

  it('replaces X-Forwarded-* from an untrusted peer', () => {
    const raw = ['X-Forwarded-For', '10.9.9.9', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil', 'Forwarded', 'for=1.2.3.4', 'Host', 'acme.localhost'];
    const out = asRecord(requestHeaders(raw, ctx));
    expect(out['x-forwarded-for']).toEqual(['203.0.113.7']);
    expect(out['x-forwarded-proto']).toEqual(['http']);
    expect(out['x-forwarded-host']).toEqual(['acme.localhost']);
    expect(out.forwarded).toBeUndefined();
  });

  it('extends X-Forwarded-* from a trusted proxy', () => {
    const raw = ['X-Forwarded-For', '198.51.100.1', 'x-forwarded-for', '10.0.0.2', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'acme.example', 'Host', 'inner'];
    const out = asRecord(requestHeaders(raw, { ...ctx, trustedPeer: true }));
    expect(out['x-forwarded-for']).toEqual(['198.51.100.1, 10.0.0.2, 203.0.113.7']);
    expect(out['x-forwarded-proto']).toEqual(['https']);
    expect(out['x-forwarded-host']).toEqual(['acme.example']);
  });

  it('drops the headers only the proxy may set (tenant, request id) and adds its own', () => {
    const raw = ['X-Strangler-Tenant', 'globex', 'X-Request-Id', 'spoofed'];
    const out = asRecord(requestHeaders(raw, { ...ctx, add: [['x-strangler-tenant', 'acme']] }));
    expect(out['x-strangler-tenant']).toEqual(['acme']);
    expect(out['x-request-id']).toEqual(['req-1']);
  });
});

describe('response headers', () => {
  it('drops hop-by-hop and Connection-listed headers and extends Via', () => {
    const out = responseHeaders(
      { connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'x-hop': '1', 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], via: '1.1 app' },
      'strangler',
    );
    expect(out).toEqual({ 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], via: '1.1 app, 1.1 strangler' });
  });

  it('adds Via when the upstream sent none', () => {
    expect(responseHeaders({ 'content-length': '0' }, 'strangler')).toEqual({ 'content-length': '0', via: '1.1 strangler' });
  });
});

describe('request id', () => {
  it('keeps a sane caller id and refuses anything else', () => {
    expect(acceptRequestId('abc-123_x.y:z')).toBe('abc-123_x.y:z');
    expect(acceptRequestId('has space')).toBeNull();
    expect(acceptRequestId('x'.repeat(129))).toBeNull();
    expect(acceptRequestId(['a', 'b'])).toBeNull();
    expect(acceptRequestId(undefined)).toBeNull();
  });
});

describe('writtenAt', () => {
  it('reads the mark from a Cookie header, wherever it stands, and nothing else', () => {
    expect(writtenAt('strangler-written=1764700000000', 'strangler-written')).toBe(1764700000000);
    expect(writtenAt('a=1; strangler-written=42; b=2', 'strangler-written')).toBe(42);
    expect(writtenAt('a=1;strangler-written=42', 'strangler-written')).toBe(42);
    expect(writtenAt('my-strangler-written=42', 'strangler-written')).toBeNull();
    expect(writtenAt('my-strangler-written=1; strangler-written=7', 'strangler-written')).toBe(7);
    expect(writtenAt('strangler-written=', 'strangler-written')).toBeNull();
    expect(writtenAt('strangler-written=12x', 'strangler-written')).toBeNull();
    expect(writtenAt('strangler-written=1234567890123456', 'strangler-written')).toBeNull();
    expect(writtenAt(undefined, 'strangler-written')).toBeNull();
  });
});
