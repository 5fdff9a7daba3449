import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

/** What the proxy knows about a request's body before forwarding it. */
export type BodyPlan =
  | { readonly kind: 'none' }
  /** Content-Length: streamed through as it arrives. */
  | { readonly kind: 'stream'; readonly length: number }
  /** Chunked: read whole first (bounded), so an oversized body never reaches an upstream. */
  | { readonly kind: 'chunked' };

export function bodyPlan(req: IncomingMessage): BodyPlan {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return { kind: 'chunked' };
  const cl = req.headers['content-length'];
  if (cl === undefined) return { kind: 'none' };
  const length = Number(cl);
  return length === 0 ? { kind: 'none' } : { kind: 'stream', length };
}

export class BodyTooLarge extends Error {}

/**
 * Reads the body into memory, refusing it as soon as it passes `limit`.
 * `stopAt` (≤ limit) returns early with what was read so far and
 * `complete: false`, leaving the rest unread in `req`.
 */
export function readBody(req: IncomingMessage, limit: number, stopAt = limit): Promise<{ chunks: Buffer[]; size: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | null, complete: boolean) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      if (err) reject(err);
      else resolve({ chunks, size, complete });
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (size > limit) {
        req.pause();
        done(new BodyTooLarge(`body larger than ${limit} bytes`), false);
      } else if (size > stopAt) {
        req.pause();
        done(null, false);
      }
    };
    const onEnd = () => done(null, true);
    const onError = (err: Error) => done(err, false);
    const onAborted = () => done(new Error('client aborted the request'), false);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** The chunks already read, then whatever is left of the request. */
export function prefixed(chunks: readonly Buffer[], rest: IncomingMessage): Readable {
  return Readable.from(
    (async function* () {
      yield* chunks;
      for await (const chunk of rest) yield chunk as Buffer;
    })(),
    { objectMode: false },
  );
}
