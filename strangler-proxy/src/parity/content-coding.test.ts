import zlib from 'node:zlib';
import { decodeContent } from './content-coding';

const json = Buffer.from(JSON.stringify({ id: 1, body: 'x'.repeat(1000) }));

describe('decodeContent', () => {
  it.each([
    ['gzip', zlib.gzipSync(json)],
    ['x-gzip', zlib.gzipSync(json)],
    ['deflate', zlib.deflateSync(json)],
    ['deflate', zlib.deflateRawSync(json)], // raw deflate, as some servers send it
    ['br', zlib.brotliCompressSync(json)],
    ['GZip ', zlib.gzipSync(json)],
  ])('undoes %s', (coding, encoded) => {
    expect(decodeContent(encoded, coding)).toEqual(json);
  });

  it('undoes several codings in reverse order of their listing, as an array of header values too', () => {
    const twice = zlib.brotliCompressSync(zlib.gzipSync(json));
    expect(decodeContent(twice, 'gzip, br')).toEqual(json);
    expect(decodeContent(twice, ['gzip', 'br'])).toEqual(json);
  });

  it('leaves a body without coding, or with identity, as it is', () => {
    expect(decodeContent(json, undefined)).toBe(json);
    expect(decodeContent(json, 'identity')).toBe(json);
  });

  it('says null for an unknown coding, corrupt data, and a body over the limit once decoded (a bomb is refused, not inflated)', () => {
    expect(decodeContent(zlib.gzipSync(json), 'compress')).toBeNull();
    expect(decodeContent(Buffer.from('not gzip at all'), 'gzip')).toBeNull();
    const bomb = zlib.gzipSync(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(20 * 1024);
    expect(decodeContent(bomb, 'gzip', 1024 * 1024)).toBeNull();
  });
});
