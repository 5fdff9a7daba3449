import zlib from 'node:zlib';

/** A decoded body larger than this is not decoded (a compression bomb costs nothing but a refusal). */
export const MAX_DECODED_BYTES = 16 * 1024 * 1024;

/**
 * A body as its Content-Encoding means it: the codings (gzip, x-gzip,
 * deflate, br; listed in the order they were applied) undone in reverse.
 * Returns the bytes unchanged when there is no coding (or `identity`), and
 * null when they cannot be decoded: an unknown coding, corrupt data, or more
 * than `maxBytes` once decoded. Parity compares, redacts and stores what a
 * client reads, not what travelled: a monolith that compresses and a
 * service that does not must still compare equal.
 */
export function decodeContent(body: Buffer, contentEncoding: string | readonly string[] | undefined, maxBytes = MAX_DECODED_BYTES): Buffer | null {
  if (contentEncoding === undefined) return body;
  const codings = (typeof contentEncoding === 'string' ? contentEncoding : contentEncoding.join(','))
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  let out = body;
  try {
    for (const coding of codings.reverse()) out = decodeOne(out, coding, maxBytes);
  } catch {
    return null;
  }
  return out;
}

function decodeOne(b: Buffer, coding: string, maxOutputLength: number): Buffer {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(b, { maxOutputLength });
    case 'deflate':
      // RFC 9110 deflate is the zlib format; some servers send raw deflate, which browsers accept too.
      try {
        return zlib.inflateSync(b, { maxOutputLength });
      } catch (err) {
        if (err instanceof RangeError) throw err;
        return zlib.inflateRawSync(b, { maxOutputLength });
      }
    case 'br':
      return zlib.brotliDecompressSync(b, { maxOutputLength });
    default:
      throw new Error(`unknown content coding ${coding}`);
  }
}
