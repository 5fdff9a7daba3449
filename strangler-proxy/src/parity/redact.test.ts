import zlib from 'node:zlib';
import { redactor } from './redact';

describe('redactor', () => {
  const r = redactor({ headers: ['authorization', 'set-cookie'], jsonPaths: ['$.email', '$.data[*].email'] });

  it('replaces configured headers and JSON paths, and leaves the rest', () => {
    expect(r.headers({ Authorization: 'Bearer x', 'set-cookie': ['a=1', 'b=2'], accept: '*/*' })).toEqual({ Authorization: '[redacted]', 'set-cookie': '[redacted]', accept: '*/*' });
    const out = r.body(Buffer.from(JSON.stringify({ email: 'a@b', data: [{ email: 'c@d', n: 1 }], name: 'kept' })));
    expect(JSON.parse(out!.toString())).toEqual({ email: '[redacted]', data: [{ email: '[redacted]', n: 1 }], name: 'kept' });
    expect(r.body(Buffer.from('plain text'))!.toString()).toBe('plain text');
  });

  it('reads a compressed body as a client does, and gives it back decoded and redacted', () => {
    const gz = zlib.gzipSync(JSON.stringify({ email: 'a@b', name: 'kept' }));
    expect(JSON.parse(r.body(gz, 'gzip')!.toString())).toEqual({ email: '[redacted]', name: 'kept' });
    expect(redactor({ headers: [], jsonPaths: [] }).body(zlib.brotliCompressSync('hello'), 'br')!.toString()).toBe('hello');
  });

  it('replaces a body it cannot decode by a note: what it holds cannot be checked, so it is never shown', () => {
    const packed = zlib.gzipSync(JSON.stringify({ email: 'a@b' }));
    const unknown = r.body(packed, 'compress')!.toString();
    expect(unknown).toBe(`[a body of ${packed.length} bytes in content coding "compress" that could not be decoded]`);
    expect(unknown).not.toContain('a@b');
  });
});
