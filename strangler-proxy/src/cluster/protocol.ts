/**
 * What the cluster's processes say to each other over Node's IPC channel.
 * Every message carries `t` starting with `strangler:`, so messages of other
 * code on the same channel are left alone.
 */
import type { ParityDelta } from '../parity/shadow-parity';

/** What one worker can be asked for, to answer the admin API for all of them. */
export type Collect = { readonly what: 'metrics' } | { readonly what: 'recent' } | { readonly what: 'noise'; readonly routes: readonly string[] } | { readonly what: 'info' };

export type WorkerToPrimary =
  | { readonly t: 'strangler:ready'; readonly url: string; readonly adminUrl: string }
  | { readonly t: 'strangler:share'; readonly deltas: readonly ParityDelta[] }
  | { readonly t: 'strangler:gather'; readonly id: number; readonly ask: Collect }
  | { readonly t: 'strangler:collected'; readonly id: number; readonly data: unknown };

export type PrimaryToWorker =
  | { readonly t: 'strangler:share'; readonly deltas: readonly ParityDelta[] }
  | { readonly t: 'strangler:collect'; readonly id: number; readonly ask: Collect }
  | { readonly t: 'strangler:gathered'; readonly id: number; readonly results: ReadonlyArray<{ readonly worker: string; readonly data: unknown }>; readonly missing: readonly string[] };

export function isStranglerMessage(m: unknown): m is { t: string } {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('strangler:');
}

/** How long a gather waits for the other workers before answering with what it has (and naming who is missing). */
export const GATHER_TIMEOUT_MS = 2000;
/** How often a worker hands its parity counts to the others. */
export const SHARE_EVERY_MS = 200;

/**
 * The callback both ends send with: a write to a peer that has just died
 * fails with EPIPE before its channel's close is seen, and without a
 * callback Node raises that as an 'error' event nothing handles. The loss is
 * the dying peer's own: its exit (or the channel's close) does the rest.
 */
export function ignoreSendError(): void {}

/** Environment: the replica a cluster's workers make up together (they share parity counts through the primary, and skip each other's in the control store). */
export const REPLICA_ID_ENV = 'STRANGLER_PROXY_REPLICA_ID';
