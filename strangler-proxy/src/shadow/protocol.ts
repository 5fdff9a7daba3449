import type { ParityRules } from '../parity/compare';
import type { NoiseSettings } from '../parity/noise';
import type { MismatchRecord } from '../parity/shadow-parity';
import type { Counts } from '../parity/window';
import type { CapturedResponse } from './exchange';
import type { PackedReports } from './report-codec';
import type { RingSlot } from './ring';

/**
 * What the data plane and the shadow thread say to each other. Everything
 * here is plain data (structured clone); bodies travel through a ring of
 * shared memory (ring.ts), so a copy costs the primary one memcpy and a share
 * of one postMessage (copies are handed over in batches, so the thread wakes
 * once per batch, not once per copy).
 */

export interface CopyOptions {
  readonly queue: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
}

/** What the thread needs of the config: copy limits, each route's parity rules, redaction, the mismatch budget. */
export interface ThreadConfig {
  readonly copies: CopyOptions;
  readonly keep: number;
  readonly mismatchSamplesPerMinute: number;
  readonly redact: { readonly headers: readonly string[]; readonly jsonPaths: readonly string[] };
  /** Parity rules by route id, as written in the config (compiled in the thread). */
  readonly rules: Readonly<Record<string, ParityRules>>;
  /** When a path the monolith disagrees with itself on counts as noise (shadow.noise). */
  readonly noise: NoiseSettings;
  /** Each tenant's monolith database (tenants.<t>.database), whose position says whether its data changed between two asks. */
  readonly databases: Readonly<Record<string, string>>;
}

/** One shadow copy to send, with the primary's answer it will be compared with. */
export interface CopyJob {
  readonly seq: number;
  readonly route: string;
  readonly tenant: string;
  readonly service: string;
  /** The service's origin (`http://host:port`); the thread keeps a keep-alive pool per origin. */
  readonly origin: string;
  readonly method: string;
  readonly path: string;
  /** Flat name/value list, already cleaned and marked by the data plane. */
  readonly headers: readonly string[];
  /** Where the request body (first) and the primary's answer body (after it) lie in the ring. */
  readonly bodies: RingSlot;
  /** The request body's length, or null when the request had none. */
  readonly requestBodyLength: number | null;
  readonly primary: Omit<CapturedResponse, 'body'>;
  /**
   * Ask the monolith twice more (a sampled read), between two looks at the
   * tenant's position, so the parity engine learns its noise from a pair
   * whose data did not change.
   */
  readonly again?: { readonly origin: string; readonly headers: readonly string[] };
}

/**
 * `starved`: the copy's deadline passed while the shadow thread itself could
 * not run (its timer fired late, the host busy): nothing is known about the
 * target, so it counts neither for nor against it.
 */
export type CopyOutcome = 'completed' | 'timeout' | 'error' | 'starved';

/** How one copy went, as the data plane sees it once a batch is read (report-codec.ts carries it). */
export interface CopyReport {
  readonly seq: number;
  readonly route: string;
  readonly tenant: string;
  readonly service: string;
  readonly outcome: CopyOutcome;
  /** The service's status (0 when it did not answer). */
  readonly status: number;
  /** What the comparison adds to the route and tenant's sliding windows (null: the route has no rules any more). */
  readonly counts: Partial<Counts> | null;
  /** A sampled, redacted mismatch for the control store. */
  readonly mismatch?: MismatchRecord;
}

export type ToThread =
  | { readonly t: 'config'; readonly config: ThreadConfig; readonly priority: number }
  /** Copies in the order their bodies were written to the ring. */
  | { readonly t: 'jobs'; readonly jobs: readonly CopyJob[] }
  | { readonly t: 'query'; readonly id: number; readonly what: 'recent' }
  | { readonly t: 'query'; readonly id: number; readonly what: 'noise'; readonly routes: readonly string[] }
  | { readonly t: 'close' };

export type FromThread =
  | { readonly t: 'ready'; readonly tid: number | null; readonly priority: number | null; readonly priorityError?: string }
  /** Reports packed as numbers (report-codec.ts), the buffer transferred. */
  | { readonly t: 'reports'; readonly batch: PackedReports }
  | { readonly t: 'answer'; readonly id: number; readonly data: unknown }
  | { readonly t: 'warn'; readonly message: string; readonly detail: Record<string, unknown> }
  | { readonly t: 'closed' };
