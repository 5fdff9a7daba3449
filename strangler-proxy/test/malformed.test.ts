import net from 'node:net';
import { baseConfig, controlStore, startProxy, startUpstream, type TestProxy, type Upstream } from './support';

/**
 * Malformed and ambiguous HTTP, sent over a raw socket: each is answered with
 * a clear status and a JSON body, and the upstream receives nothing at all.
 */
describe('malformed requests never reach an upstream', () => {
  let upstream: Upstream;
  let store: { url: string; drop: () => Promise<void> };
  let proxy: TestProxy;
  let port: number;

  beforeAll(async () => {
    [upstream, store] = await Promise.all([startUpstream('acme'), controlStore()]);
    proxy = await startProxy(
      baseConfig(store.url, { acme: upstream.url }, { forwarding: { maxBodyBytes: 1024, maxHeaderBytes: 4096, headersTimeoutMs: 400 } }),
    );
    port = Number(new URL(proxy.url).port);
  });
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    await store?.drop();
  });
  beforeEach(() => {
    upstream.requests.length = 0;
  });

  /** Sends raw bytes, returns everything the proxy wrote back before closing (or after `waitMs`). */
  function raw(bytes: string | Buffer, waitMs = 1500): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
      socket.on('data', (c) => chunks.push(c));
      socket.on('end', done);
      socket.on('close', done);
      socket.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' ? done() : reject(err)));
      socket.write(bytes);
      setTimeout(() => {
        socket.destroy();
        done();
      }, waitMs);
    });
  }

  const ok = 'GET /ok HTTP/1.1\r\nHost: acme.localhost\r\n';

  const cases: Array<[string, string | Buffer, number, string]> = [
    ['Content-Length and Transfer-Encoding together', 'POST /x HTTP/1.1\r\nHost: acme.localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['two different Content-Length headers', 'POST /x HTTP/1.1\r\nHost: acme.localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['two equal Content-Length headers', 'POST /x HTTP/1.1\r\nHost: acme.localhost\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a non-numeric Content-Length', 'POST /x HTTP/1.1\r\nHost: acme.localhost\r\nContent-Length: 5x\r\n\r\nhello', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a negative Content-Length', 'POST /x HTTP/1.1\r\nHost: acme.localhost\r\nContent-Length: -5\r\n\r\nhello', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a Transfer-Encoding whose last coding is not chunked', 'POST /x HTTP/1.1\r\nHost: acme.localhost\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['an unknown Transfer-Encoding', 'POST /x HTTP/1.1\r\nHost: acme.localhost\r\nTransfer-Encoding: identity\r\n\r\nhello', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['an obs-fold header continuation', `${ok}X-Folded: a\r\n b\r\n\r\n`, 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a bare LF ending a header line', 'GET /ok HTTP/1.1\r\nHost: acme.localhost\nX-A: 1\r\n\r\n', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a bare CR inside a header line', `${ok}X-A: 1\r2\r\n\r\n`, 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a NUL byte in a header value', `${ok}X-A: a\u0000b\r\n\r\n`, 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a control byte in a header value', `${ok}X-A: a\u0001b\r\n\r\n`, 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a space before the colon', `${ok}X-A : 1\r\n\r\n`, 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['a missing Host header', 'GET /ok HTTP/1.1\r\nX-A: 1\r\n\r\n', 400, 'STR_ERR_PROXY_MALFORMED_REQUEST'],
    ['headers over the size limit', `${ok}X-Big: ${'a'.repeat(8192)}\r\n\r\n`, 431, 'STR_ERR_PROXY_HEADERS_TOO_LARGE'],
    ['a Content-Length body over the limit', `POST /x HTTP/1.1\r\nHost: acme.localhost\r\nContent-Length: 2048\r\n\r\n${'a'.repeat(2048)}`, 413, 'STR_ERR_PROXY_BODY_TOO_LARGE'],
    ['a chunked body over the limit', `POST /x HTTP/1.1\r\nHost: acme.localhost\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n${'a'.repeat(2048)}\r\n0\r\n\r\n`, 413, 'STR_ERR_PROXY_BODY_TOO_LARGE'],
    ['a dot-segment in the path', 'GET /api/../admin HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n', 400, 'STR_ERR_PROXY_BAD_TARGET'],
    ['an encoded dot-segment in the path', 'GET /api/%2e%2E/admin HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n', 400, 'STR_ERR_PROXY_BAD_TARGET'],
    ['a CONNECT request (a forward proxy\'s method)', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 405, 'STR_ERR_PROXY_METHOD_NOT_ALLOWED'],
    ['an absolute-form target with user info', 'GET http://user:secret@acme.localhost/x HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n', 400, 'STR_ERR_PROXY_BAD_TARGET'],
    ['an absolute-form target of another scheme', 'GET ftp://acme.localhost/x HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n', 400, 'STR_ERR_PROXY_BAD_TARGET'],
    ['an absolute-form target without a host', 'GET http:///x HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n', 400, 'STR_ERR_PROXY_BAD_TARGET'],
    ['an absolute-form target with a dot-segment', 'GET http://acme.localhost/api/../admin HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n', 400, 'STR_ERR_PROXY_BAD_TARGET'],
  ];

  it.each(cases.map(([name, bytes, status, code]) => ({ name, bytes, status, code })))('$name: answered $status, nothing forwarded', async ({ bytes, status, code }) => {
    const answer = await raw(bytes);
    expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(answer).toContain(`"code":"${code}"`);
    expect(answer.toLowerCase()).toContain('content-type: application/json');
    await new Promise((r) => setTimeout(r, 50));
    expect(upstream.requests).toHaveLength(0);
  });

  it('a client too slow to send its headers gets 408, and nothing is forwarded', async () => {
    const answer = await raw(`${ok}X-Slow: 1\r\n`, 2500); // never finishes the header block
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"code":"STR_ERR_PROXY_REQUEST_TIMEOUT"');
    expect(upstream.requests).toHaveLength(0);
  });

  it('a well-formed request on the same proxy still goes through (the cases above are not refused by accident)', async () => {
    const answer = await raw(`${ok}Connection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.requests).toHaveLength(1);
  });

  it('an absolute-form target is accepted (RFC 9112, 3.2.2): its authority replaces the Host header, and the upstream gets origin-form', async () => {
    const answer = await raw('GET HTTP://ACME.localhost/api/rooms?x=1 HTTP/1.1\r\nHost: nobody.localhost\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.requests.map((r) => ({ url: r.url, forwardedHost: r.headers['x-forwarded-host'] }))).toEqual([{ url: '/api/rooms?x=1', forwardedHost: 'ACME.localhost' }]);
    const bare = await raw('GET http://acme.localhost?y=2 HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n');
    expect(bare).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.requests[1]!.url).toBe('/?y=2');
    // The target's host names the tenant, as a Host header would: one no tenant has is refused.
    const unknown = await raw('GET http://nobody.localhost/api/rooms HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\r\n');
    expect(unknown).toMatch(/^HTTP\/1\.1 400 /);
    expect(unknown).toContain('STR_ERR_PROXY_TENANT_UNRESOLVED');
    expect(upstream.requests).toHaveLength(2);
  });

  it('a chunked body under the limit is forwarded whole, with a Content-Length', async () => {
    const answer = await raw('POST /x HTTP/1.1\r\nHost: acme.localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.requests[0]!.body.toString()).toBe('hello world');
    expect(upstream.requests[0]!.headers['content-length']).toBe('11');
    expect(upstream.requests[0]!.headers['transfer-encoding']).toBeUndefined();
  });
});
