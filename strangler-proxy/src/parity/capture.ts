import fs from 'node:fs';
import path from 'node:path';
import { HOP_BY_HOP, MET_BY_PROXY, SET_BY_PROXY } from '../forward/headers';
import { corpusBody, type CorpusEntry } from './corpus';
import type { Redactor } from './redact';

export interface CaptureSettings {
  readonly file: string;
  readonly sampleRate: number;
  readonly maxPerRoute: number;
}

/**
 * Not recorded: hop-by-hop headers, those the proxy sets itself, framing and
 * tracing (a replay has its own), and the content coding (bodies are
 * recorded decoded, as the redaction reads them).
 */
const DROP = new Set([...HOP_BY_HOP, ...SET_BY_PROXY, ...MET_BY_PROXY, 'content-length', 'content-encoding', 'traceparent', 'tracestate']);

/**
 * Records a sampled share of real requests, per route, with the monolith's
 * answer, as corpus lines for `strangler parity run`: credentials and the
 * configured JSON paths redacted, at most maxPerRoute lines per route.
 * Lines go through an append stream: the request path never waits on the
 * disk; each line is one write, so lines never interleave.
 */
export class CorpusCapture {
  private readonly perRoute = new Map<string, number>();
  private out: fs.WriteStream | null = null;
  private written = 0;

  constructor(
    private settings: CaptureSettings,
    private readonly redactor: () => Redactor,
    private readonly onError: (err: unknown) => void = () => {},
    private readonly random: () => number = Math.random,
  ) {}

  get lines(): number {
    return this.written;
  }

  reconfigure(settings: CaptureSettings): void {
    if (settings.file !== this.settings.file) void this.close();
    this.settings = settings;
  }

  /** Whether to record this request (sampling and the per-route cap). */
  take(route: string): boolean {
    if ((this.perRoute.get(route) ?? 0) >= this.settings.maxPerRoute) return false;
    return this.random() < this.settings.sampleRate;
  }

  record(entry: { route: string; tenant: string; method: string; path: string; headers: Readonly<Record<string, string | string[] | undefined>>; body: Buffer | null; response: { status: number; headers: Readonly<Record<string, string | string[]>>; body: Buffer; ms: number } | null }): void {
    const r = this.redactor();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(entry.headers)) if (v !== undefined && !DROP.has(k) && !k.startsWith('x-strangler-')) headers[k] = Array.isArray(v) ? v.join(', ') : (v as string);
    const line: CorpusEntry = {
      method: entry.method,
      path: entry.path,
      headers: r.headers(headers) as Record<string, string>,
      body: corpusBody(r.body(entry.body, entry.headers['content-encoding'])),
      tenant: entry.tenant,
      route: entry.route,
      at: new Date().toISOString(),
      ...(entry.response
        ? { response: { status: entry.response.status, headers: r.headers(pickResponseHeaders(entry.response.headers)) as Record<string, string>, body: corpusBody(r.body(entry.response.body, entry.response.headers['content-encoding'])), ms: Math.round(entry.response.ms * 100) / 100 } }
        : {}),
    };
    if (this.out === null) {
      fs.mkdirSync(path.dirname(this.settings.file), { recursive: true });
      this.out = fs.createWriteStream(this.settings.file, { flags: 'a' });
      this.out.on('error', (err) => this.onError(err));
    }
    this.out.write(`${JSON.stringify(line)}\n`);
    this.perRoute.set(entry.route, (this.perRoute.get(entry.route) ?? 0) + 1);
    this.written++;
  }

  /** Ends the stream; what was written is flushed before the returned promise settles. */
  close(): Promise<void> {
    const out = this.out;
    this.out = null;
    if (!out) return Promise.resolve();
    return new Promise((resolve) => out.end(() => resolve()));
  }
}

function pickResponseHeaders(h: Readonly<Record<string, string | string[]>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['content-type', 'location', 'etag', 'cache-control']) {
    const v = h[k];
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
