import type { MismatchRecord } from '../parity/judge';
import type { Counts } from '../parity/window';
import type { CopyOutcome } from './protocol';

/**
 * Copy reports as the shadow thread hands them back: numbers in one
 * Float64Array (transferred, not cloned) plus the rare sampled mismatches,
 * instead of one object with its strings per copy. The data plane reads the
 * numbers and takes route, tenant and service from what it kept of the
 * copy: reading a batch of reports allocates no string on the request
 * thread.
 */

const OUTCOMES: readonly CopyOutcome[] = ['completed', 'timeout', 'error', 'starved'];
const OUTCOME_CODE: Readonly<Record<CopyOutcome, number>> = { completed: 0, timeout: 1, error: 2, starved: 3 };
const COUNT_KEYS = ['samples', 'mismatches', 'noiseFiltered', 'noiseDiscarded', 'shadowErrors', 'primaryErrors', 'served', 'servedErrors', 'primaryMs', 'shadowMs'] as const satisfies readonly (keyof Counts)[];
/** seq, outcome, status, has-counts flag, then one slot per count. */
const STRIDE = 4 + COUNT_KEYS.length;

export interface PackedReports {
  readonly packed: Float64Array<ArrayBuffer>;
  /** Sampled mismatches, by the seq of their copy. */
  readonly mismatches: ReadonlyArray<readonly [number, MismatchRecord]>;
}

/** The thread's side: reports added one by one, taken as one batch. */
export class ReportPacker {
  private numbers: number[] = [];
  private mismatches: Array<readonly [number, MismatchRecord]> = [];

  get size(): number {
    return this.numbers.length / STRIDE;
  }

  add(seq: number, outcome: CopyOutcome, status: number, counts: Partial<Counts> | null, mismatch?: MismatchRecord): void {
    const n = this.numbers;
    n.push(seq, OUTCOME_CODE[outcome], status, counts === null ? 0 : 1);
    for (const k of COUNT_KEYS) n.push(counts?.[k] ?? NaN); // NaN: a figure the report does not carry
    if (mismatch) this.mismatches.push([seq, mismatch]);
  }

  /** The batch so far (its buffer can be transferred), or null when empty. */
  take(): PackedReports | null {
    if (this.numbers.length === 0) return null;
    const out = { packed: Float64Array.from(this.numbers), mismatches: this.mismatches };
    this.numbers = [];
    this.mismatches = [];
    return out;
  }
}

/** The data plane's side: each report of a batch, in order, its counts carrying the figures the thread gave. */
export function unpackReports(
  batch: PackedReports,
  visit: (seq: number, outcome: CopyOutcome, status: number, counts: Partial<Counts> | null, mismatch: MismatchRecord | undefined) => void,
): void {
  const { packed } = batch;
  if (packed.length % STRIDE !== 0) throw new Error(`a batch of shadow reports is ${packed.length} numbers long, not a multiple of ${STRIDE}`);
  const mismatches = batch.mismatches.length === 0 ? null : new Map(batch.mismatches);
  for (let i = 0; i < packed.length; i += STRIDE) {
    const seq = packed[i]!;
    const outcome = OUTCOMES[packed[i + 1]!];
    if (outcome === undefined) throw new Error(`a shadow report has outcome code ${packed[i + 1]}`);
    let counts: Partial<Counts> | null = null;
    if (packed[i + 3] === 1) {
      counts = {};
      for (let k = 0; k < COUNT_KEYS.length; k++) {
        const v = packed[i + 4 + k]!;
        if (!Number.isNaN(v)) counts[COUNT_KEYS[k]!] = v;
      }
    }
    visit(seq, outcome, packed[i + 2]!, counts, mismatches?.get(seq));
  }
}
