import type { RequestListener, Server } from 'node:http';
import supertest from 'supertest';
import { compareAnswers, compileRules, type Answer, type Comparison, type ParityRules } from './compare';
import { changedBetween, DatabasePositions, type ChangeMark } from './change-witness';
import { NoiseModel } from './noise';

/** What supertest can drive: an app (Express or any request listener), a server, or a base URL. */
export type Target = RequestListener | Server | string;

export interface ExpectParityOptions extends ParityRules {
  readonly monolith: Target;
  readonly candidate: Target;
  /** Sent to the candidate only (the proxy's x-strangler-tenant, for one). */
  readonly candidateHeaders?: Readonly<Record<string, string>>;
  /**
   * Ask the monolith `noisePairs` more times and leave out what differed
   * between each of its consecutive answers, in every pair (a rate of 1, not
   * one sighting); a pair whose difference a change of data explains (an
   * element gained or lost, an id in one answer only) teaches nothing.
   * Reads only: a write is sent to the monolith once.
   * @default true
   */
  readonly learnNoise?: boolean;
  /** @default 3 */
  readonly noisePairs?: number;
  /** The monolith's database: its position is read before the first and after the last monolith answer, and nothing is learned across a commit. */
  readonly database?: string;
}

export interface ParityRequest {
  readonly method?: string;
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON value, or raw text. */
  readonly body?: unknown;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Thrown by expectParity: the message lists every difference with its path and both values. */
export class ParityMismatchError extends Error {
  constructor(
    readonly request: ParityRequest,
    readonly comparison: Comparison,
  ) {
    const lines = comparison.differences.map((d) => `  ${d.path} (${d.kind}): monolith ${show(d.primary)}, candidate ${show(d.candidate)}`);
    super(`${request.method ?? 'GET'} ${request.path}: the candidate differs from the monolith in ${comparison.differences.length} place(s)\n${lines.join('\n')}`);
    this.name = 'ParityMismatchError';
  }
}

function show(v: unknown): string {
  const s = v === undefined ? '(absent)' : typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

async function send(target: Target, r: ParityRequest, extra: Readonly<Record<string, string>> = {}): Promise<Answer> {
  const method = (r.method ?? 'GET').toLowerCase() as 'get';
  let req = supertest(target as Parameters<typeof supertest>[0])[method](r.path);
  for (const [k, v] of Object.entries({ ...r.headers, ...extra })) req = req.set(k, v);
  if (r.body !== undefined) req = req.send(r.body as object);
  const res = await req.buffer(true).parse((stream, done) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => done(null, Buffer.concat(chunks)));
  });
  return { status: res.status, headers: res.headers as Answer['headers'], body: res.body as Buffer };
}

/**
 * For a user's own jest suites: sends one request to the monolith and to the
 * candidate (apps or URLs, through supertest), compares under the given
 * rules and the noise learned from asking the monolith again, and throws a
 * ParityMismatchError listing the differences when they differ. Resolves
 * with the comparison (noise included) when they agree.
 */
export async function expectParity(request: ParityRequest | string, options: ExpectParityOptions): Promise<Comparison> {
  const r: ParityRequest = typeof request === 'string' ? { path: request } : request;
  const rules = compileRules(options);
  const positions = new DatabasePositions();
  const mark = async (): Promise<ChangeMark> => ({ writes: null, database: options.database === undefined ? null : await positions.read(options.database) });
  try {
    const before = await mark();
    const [primary, candidate] = await Promise.all([send(options.monolith, r), send(options.candidate, r, options.candidateHeaders)]);
    const pairs = Math.max(1, options.noisePairs ?? 3);
    const noise = new NoiseModel({ minPairs: pairs, minShare: 1, windowPairs: pairs });
    // A write is never sent again: noise is learned from reads only.
    if ((options.learnNoise ?? true) && SAFE.has((r.method ?? 'GET').toUpperCase())) {
      const answers = [primary];
      for (let i = 0; i < pairs; i++) answers.push(await send(options.monolith, r));
      const changed = changedBetween(before, await mark());
      for (let i = 0; i < pairs; i++) noise.learn('request', answers[i]!, answers[i + 1]!, rules, changed);
    }
    return judged(r, compareAnswers(primary, candidate, rules, noise.predicate('request')));
  } finally {
    await positions.close();
  }
}

/** The comparison when it matched; a ParityMismatchError listing its differences otherwise. */
function judged(r: ParityRequest, comparison: Comparison): Comparison {
  if (!comparison.match) throw new ParityMismatchError(r, comparison);
  return comparison;
}
