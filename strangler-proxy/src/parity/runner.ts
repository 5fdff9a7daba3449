import { request } from 'undici';
import type { CompiledConfig } from '../config/compile';
import { ProxyError } from '../errors';
import { HOP_BY_HOP, MET_BY_PROXY } from '../forward/headers';
import { TENANT_HEADER } from '../server/data-plane';
import type { CompiledRoute } from '../routes/table';
import { classify, differencesOf, type Answer, type Difference } from './compare';
import { bodyBuffer, type CorpusEntry } from './corpus';
import { changedBetween, DatabasePositions, type ChangeMark } from './change-witness';
import { suggestRules, type RuleSuggestion } from './suggest';
import { NoiseModel, type DiscardReason, type LearnedNoise, type NoiseSettings } from './noise';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Not replayed: hop-by-hop headers, and what the HTTP client sets itself. */
const NOT_REPLAYED = new Set([...HOP_BY_HOP, ...MET_BY_PROXY, 'host', 'content-length']);

export interface TimedAnswer extends Answer {
  readonly ms: number;
}

/** Sends one request somewhere; the runner's only way out (tests and expectParity pass their own). */
export type Send = (baseUrl: string, req: { method: string; path: string; headers: Record<string, string>; body: Buffer | null }) => Promise<TimedAnswer>;

export const sendWithUndici: Send = async (baseUrl, req) => {
  const started = performance.now();
  const res = await request(new URL(req.path, baseUrl), { method: req.method as 'GET', headers: req.headers, body: req.body ?? undefined, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers as Record<string, string | string[]>, body, ms: performance.now() - started };
};

export interface ParityRunOptions {
  readonly config: CompiledConfig;
  readonly tenant: string;
  readonly entries: readonly CorpusEntry[];
  /** Only this route. */
  readonly routeId?: string;
  /** A route fails when its mismatch rate is above this (0-1). @default 0 */
  readonly maxMismatchRate?: number;
  /** Ask the monolith twice and learn what differs as noise. @default true */
  readonly learnNoise?: boolean;
  /** When a path is noise. @default the config's shadow.noise */
  readonly noise?: Partial<NoiseSettings>;
  /**
   * The tenant's monolith database, whose position is read before the first
   * and after the second monolith answer: a pair across a commit teaches no
   * noise. @default the config's tenants.<t>.database
   */
  readonly database?: string;
  /** A route fails when more than this share of its comparisons matched only by leaving learned noise out. @default 0.05 */
  readonly maxFilteredShare?: number;
  readonly concurrency?: number;
  readonly send?: Send;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface Mismatch {
  readonly route: string;
  readonly request: { readonly method: string; readonly path: string };
  readonly differences: readonly Difference[];
  readonly noise: readonly Difference[];
  readonly monolith: { readonly status: number; readonly body: string };
  readonly extracted: { readonly status: number; readonly body: string };
  /** Rules that would explain (some of) the differences, each checked by comparing again under it. */
  readonly suggestions: readonly RuleSuggestion[];
}

export interface RouteSummary {
  /** `<route id> <METHOD> <template>` */
  readonly route: string;
  readonly samples: number;
  readonly matches: number;
  readonly mismatches: number;
  /** Samples whose every difference lay on learned noise: not a match (not compared whole), not a mismatch. */
  readonly noiseSuppressed: number;
  /** Pairs of monolith answers not learned from: the data changed between the two asks. */
  readonly noiseDiscarded: number;
  /** noiseSuppressed over the samples compared. */
  readonly filteredShare: number;
  readonly errors: number;
  readonly mismatchRate: number;
  readonly passed: boolean;
  readonly latencyMs: { readonly monolith: { p50: number; p99: number }; readonly extracted: { p50: number; p99: number } };
  readonly learnedNoise: readonly LearnedNoise[];
  /** Why pairs of monolith answers were not learned from. */
  readonly noiseDiscards: Readonly<Record<DiscardReason, number>>;
}

export interface ParityReport {
  readonly generatedAt: string;
  readonly tenant: string;
  readonly maxMismatchRate: number;
  readonly maxFilteredShare: number;
  readonly totals: {
    readonly requests: number;
    readonly compared: number;
    /** Compared and equal with nothing left out. */
    readonly matches: number;
    /** Equal only once learned noise was left out. */
    readonly filtered: number;
    readonly mismatches: number;
    readonly errors: number;
    readonly skipped: number;
    /** Pairs of monolith answers not learned from as noise (the data changed between the asks). */
    readonly noiseDiscarded: number;
  };
  readonly passed: boolean;
  readonly routes: readonly RouteSummary[];
  readonly skipped: ReadonlyArray<{ readonly method: string; readonly path: string; readonly reason: string }>;
  readonly mismatches: readonly Mismatch[];
}

interface Sample {
  readonly key: string;
  readonly route: CompiledRoute;
  readonly entry: CorpusEntry;
  /** What is kept of the answers once they are in: their timings and differences, not their bodies (a corpus may be large). */
  ms?: { readonly monolith: number; readonly extracted: number };
  found?: readonly Difference[];
  /** Kept only while it may become a printed example: both statuses and bodies (capped). */
  example?: Pick<Mismatch, 'monolith' | 'extracted' | 'suggestions'>;
}

const MAX_EXAMPLES_PER_ROUTE = 25;
/**
 * Bodies kept per route for examples. Whether a sample mismatches is only
 * known once every sample has taught its noise; a sample whose differences
 * are all noise known so far is not kept, so this budget only runs out when
 * the noise of a route is learned late.
 */
const EXAMPLE_BODIES_PER_ROUTE = 4 * MAX_EXAMPLES_PER_ROUTE;
const BODY_CAP = 64 * 1024;

/**
 * The offline runner: each corpus request goes to the tenant's monolith and
 * to the route's extracted service; reads are asked of the monolith twice to
 * learn noise (Diffy); writes are only sent to a service that honours the
 * dry-run header, and compared with the monolith answer captured with them.
 * Noise is learned from every sample first, then every sample is judged
 * (each sample's differences are found as its answers come in, and its
 * bodies dropped, so memory does not grow with the corpus's answers).
 */
export async function runParity(o: ParityRunOptions): Promise<ParityReport> {
  const tenant = o.config.tenants.get(o.tenant);
  if (!tenant) throw new ProxyError('STR_ERR_PARITY_UNKNOWN_TARGET', `tenant ${o.tenant} is not in the proxy config ${o.config.source} (known: ${[...o.config.tenants.keys()].join(', ')})`);
  if (o.routeId !== undefined && !o.config.table.byId.has(o.routeId)) {
    throw new ProxyError('STR_ERR_PARITY_UNKNOWN_TARGET', `route ${o.routeId} is not in the proxy config ${o.config.source} (known: ${[...o.config.table.byId.keys()].join(', ')})`);
  }
  const send = o.send ?? sendWithUndici;
  const learn = o.learnNoise ?? true;
  const host = tenant.hosts[0] ?? '';
  const skipped: Array<{ method: string; path: string; reason: string }> = [];
  const samples: Sample[] = [];
  for (const entry of o.entries) {
    if (entry.tenant !== undefined && entry.tenant !== o.tenant) continue;
    const route = o.config.table.match(entry.method, entry.path.split('?')[0]!, host, lower(entry.headers));
    if (o.routeId !== undefined && route?.id !== o.routeId) continue;
    if (!route || !route.service) {
      skipped.push({ method: entry.method, path: entry.path, reason: route ? `route ${route.id} names no extracted service` : 'no route matches: it stays on the monolith' });
      continue;
    }
    if (!SAFE.has(entry.method)) {
      const service = o.config.services.get(route.service)!;
      if (!service.dryRunHeader) {
        skipped.push({ method: entry.method, path: entry.path, reason: `a write, and service ${route.service} declares no dryRunHeader: never replayed` });
        continue;
      }
      if (!entry.response) {
        skipped.push({ method: entry.method, path: entry.path, reason: 'a write without the captured monolith answer: the monolith is never written to by parity' });
        continue;
      }
    }
    samples.push({ key: `${route.id} ${[...(route.methods ?? ['*'])].join(',')} ${route.template.source}`, route, entry });
  }

  const noise = new NoiseModel(o.noise ?? o.config.config.shadow.noise);
  const database = o.database ?? tenant.database;
  const positions = new DatabasePositions();
  const mark = async (): Promise<ChangeMark> => ({ writes: null, database: database === null ? null : await positions.read(database) });
  const kept = new Map<string, number>();
  /** Learns from a sample's answers and keeps what judging it needs. */
  const digest = (s: Sample, primary: TimedAnswer, candidate: TimedAnswer, second: TimedAnswer | undefined, changed: boolean) => {
    if (second) noise.learn(s.key, primary, second, s.route.parity, changed);
    s.ms = { monolith: primary.ms, extracted: candidate.ms };
    s.found = differencesOf(primary, candidate, s.route.parity);
    const isNoise = noise.predicate(s.key);
    if (s.found.some((d) => !isNoise(d)) && (kept.get(s.key) ?? 0) < EXAMPLE_BODIES_PER_ROUTE) {
      kept.set(s.key, (kept.get(s.key) ?? 0) + 1);
      s.example = { monolith: { status: primary.status, body: text(primary.body) }, extracted: { status: candidate.status, body: text(candidate.body) }, suggestions: suggestRules(primary, candidate, s.route.parityRules) };
    }
  };

  let done = 0;
  const queue = [...samples];
  const worker = async () => {
    for (let s = queue.shift(); s; s = queue.shift()) {
      const headers = outgoing(s.entry.headers);
      const body = bodyBuffer(s.entry.body);
      const req = { method: s.entry.method, path: s.entry.path, headers, body };
      const service = o.config.services.get(s.route.service!)!;
      const toService = { ...req, headers: { ...headers, [TENANT_HEADER]: o.tenant } };
      try {
        if (SAFE.has(s.entry.method)) {
          const before = learn ? await mark() : null;
          const [primary, candidate] = await Promise.all([send(tenant.monolith, req), send(service.url, toService)]);
          // The monolith's second answer only teaches noise: when it fails, the sample is still judged.
          const second = learn ? await send(tenant.monolith, req).catch(() => undefined) : undefined;
          digest(s, primary, candidate, second, before === null || second === undefined ? false : changedBetween(before, await mark()));
        } else {
          const r = s.entry.response!;
          const primary = { status: r.status, headers: r.headers, body: bodyBuffer(r.body), ms: r.ms ?? 0 };
          digest(s, primary, await send(service.url, { ...toService, headers: { ...toService.headers, [service.dryRunHeader!]: '1' } }), undefined, false);
        }
      } catch {
        // A sample whose answers never came has no differences found: counted as an error of its route.
      }
      o.onProgress?.(++done, samples.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 4) }, worker));
  } finally {
    await positions.close();
  }

  const maxRate = o.maxMismatchRate ?? 0;
  const maxFiltered = o.maxFilteredShare ?? 0.05;
  const byRoute = new Map<string, { samples: Sample[]; matches: number; mismatches: number; suppressed: number; errors: number; examples: number }>();
  const mismatches: Mismatch[] = [];
  for (const s of samples) {
    const r = byRoute.get(s.key) ?? { samples: [], matches: 0, mismatches: 0, suppressed: 0, errors: 0, examples: 0 };
    byRoute.set(s.key, r);
    r.samples.push(s);
    if (!s.found) {
      r.errors++;
      continue;
    }
    const c = classify(s.found, noise.predicate(s.key));
    if (c.match) {
      if (c.noise.length > 0) r.suppressed++;
      else r.matches++;
      continue;
    }
    r.mismatches++;
    if (s.example && r.examples < MAX_EXAMPLES_PER_ROUTE) {
      r.examples++;
      mismatches.push({ route: s.key, request: { method: s.entry.method, path: s.entry.path }, differences: c.differences, noise: c.noise, ...s.example });
    }
  }
  const routes: RouteSummary[] = [...byRoute].map(([key, r]) => {
    const compared = r.matches + r.suppressed + r.mismatches;
    const mismatchRate = compared === 0 ? 0 : r.mismatches / compared;
    const filteredShare = compared === 0 ? 0 : r.suppressed / compared;
    const summary = noise.summary(key);
    const ms = (side: 'monolith' | 'extracted') => {
      const v = r.samples.map((s) => s.ms?.[side] ?? 0).filter((t) => t > 0);
      return { p50: round(percentile(v, 0.5)), p99: round(percentile(v, 0.99)) };
    };
    return {
      route: key,
      samples: r.samples.length,
      matches: r.matches,
      mismatches: r.mismatches,
      noiseSuppressed: r.suppressed,
      noiseDiscarded: Object.values(summary.discarded).reduce((a, b) => a + b, 0),
      filteredShare,
      errors: r.errors,
      mismatchRate,
      // Errors count against a route too: a path that cannot answer has not proven parity; nor has one compared mostly past its noise.
      passed: compared > 0 && mismatchRate <= maxRate && r.errors === 0 && filteredShare <= maxFiltered,
      latencyMs: { monolith: ms('monolith'), extracted: ms('extracted') },
      learnedNoise: summary.learned,
      noiseDiscards: summary.discarded,
    };
  });
  const totals = {
    requests: o.entries.length,
    compared: routes.reduce((n, r) => n + r.matches + r.noiseSuppressed + r.mismatches, 0),
    matches: routes.reduce((n, r) => n + r.matches, 0),
    filtered: routes.reduce((n, r) => n + r.noiseSuppressed, 0),
    noiseDiscarded: routes.reduce((n, r) => n + r.noiseDiscarded, 0),
    mismatches: routes.reduce((n, r) => n + r.mismatches, 0),
    errors: routes.reduce((n, r) => n + r.errors, 0),
    skipped: skipped.length,
  };
  return { generatedAt: new Date().toISOString(), tenant: o.tenant, maxMismatchRate: maxRate, maxFilteredShare: maxFiltered, totals, passed: routes.length > 0 && routes.every((r) => r.passed), routes, skipped, mismatches };
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

function outgoing(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(lower(h)).filter(([k]) => !NOT_REPLAYED.has(k) && k !== TENANT_HEADER));
}

function text(b: Buffer | string | null): string {
  if (b === null) return '';
  const s = typeof b === 'string' ? b : b.toString('utf8');
  return s.length > BODY_CAP ? `${s.slice(0, BODY_CAP)}… (${s.length} characters)` : s;
}

function percentile(v: number[], p: number): number {
  if (v.length === 0) return 0;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

const round = (n: number) => Math.round(n * 100) / 100;
