/**
 * The shadow thread: sends the copies, compares the answers and keeps the
 * recent exchanges, on a thread of its own at a low scheduling priority, so
 * that none of it competes with the primaries for the event loop, the heap
 * or (where the OS allows) the CPU. The data plane posts jobs; this thread
 * posts back what each copy added to the parity figures, in batches.
 */
import fs from 'node:fs';
import os from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ChangeWitness, DatabasePositions, WriteLedger } from '../parity/change-witness';
import { compileRules, type CompiledRules } from '../parity/compare';
import { ParityJudge } from '../parity/judge';
import { redactor, type Redactor } from '../parity/redact';
import { ShadowCopier } from './copier';
import { exchangeJson, RecentExchanges, type ShadowExchange } from './exchange';
import type { CopyJob, CopyOutcome, FromThread, ThreadConfig, ToThread } from './protocol';
import { ReportPacker } from './report-codec';
import { BodyRing } from './ring';

if (!parentPort) throw new Error('src/shadow/thread.ts runs as a worker thread (see ShadowMirror)');
const port: MessagePort = parentPort;
const shared = workerData as { ring: SharedArrayBuffer; ledger: SharedArrayBuffer };
const ring = new BodyRing(shared.ring);
const witness = new ChangeWitness(new WriteLedger(shared.ledger), new DatabasePositions(), (tenant) => config?.databases[tenant] ?? null);

/** Reports leave in batches: one message per this many ms at most, not one per copy. */
const FLUSH_MS = 10;

let config: ThreadConfig | null = null;
let rules = new Map<string, CompiledRules>();
let redact: Redactor | null = null;
let recent = new RecentExchanges(0);
let copier: ShadowCopier | null = null;
const pending = new ReportPacker();
let flushTimer: NodeJS.Timeout | null = null;
let lastWarning = 0;

const judge = new ParityJudge({
  rulesOf: (id) => rules.get(id) ?? null,
  redactor: () => redact!,
  mismatchesPerMinute: () => config?.mismatchSamplesPerMinute ?? 0,
});

const send = (m: FromThread) => port.postMessage(m);

function flush(): void {
  flushTimer = null;
  const batch = pending.take();
  if (batch) port.postMessage({ t: 'reports', batch } satisfies FromThread, [batch.packed.buffer]);
}

function configure(next: ThreadConfig): void {
  config = next;
  rules = new Map(Object.entries(next.rules).map(([id, r]) => [id, compileRules(r)]));
  redact = redactor(next.redact);
  judge.setNoise(next.noise);
  if (recent.keep !== next.keep) recent = new RecentExchanges(next.keep, recent.list());
  if (copier) copier.reconfigure(next.copies);
  else copier = new ShadowCopier(next.copies, finished, (tenant) => witness.mark(tenant));
}

/** A copy is done: kept for GET /shadow/recent, judged, and its report queued for the data plane. */
function finished(job: CopyJob, exchange: ShadowExchange, outcome: CopyOutcome): void {
  recent.record(exchange);
  let verdict: ReturnType<ParityJudge['judge']> = { counts: null };
  try {
    // A starved copy is evidence of nothing: not compared, not counted in parity.
    if (outcome !== 'starved') verdict = judge.judge(exchange);
  } catch (err) {
    // A comparison that throws is a bug to fix, never a reason to lose the copy's report; said at most once a minute.
    if (Date.now() - lastWarning > 60_000) {
      lastWarning = Date.now();
      send({ t: 'warn', message: 'a shadow comparison failed; the copy is counted, not compared', detail: { route: job.route, error: (err as Error).stack ?? String(err) } });
    }
  }
  const status = 'error' in exchange.shadow ? 0 : exchange.shadow.status;
  pending.add(job.seq, outcome, status, verdict.counts, verdict.mismatch);
  flushTimer ??= setTimeout(flush, FLUSH_MS);
}

/**
 * Sets this thread's scheduling priority (Linux: a thread's nice value is
 * its own; /proc/thread-self names the thread). Elsewhere, or when the OS
 * refuses (raising it again needs CAP_SYS_NICE), it stays and says so.
 */
function setPriority(nice: number): FromThread {
  let tid: number | null = null;
  try {
    tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) throw new Error('no thread id in /proc/thread-self');
    os.setPriority(tid, nice);
    return { t: 'ready', tid, priority: os.getPriority(tid) };
  } catch (err) {
    let now: number | null = null;
    try {
      now = tid === null ? null : os.getPriority(tid);
    } catch {
      // no thread id: nothing to report
    }
    return { t: 'ready', tid, priority: now, priorityError: (err as Error).message };
  }
}

async function finishClose(): Promise<void> {
  if (flushTimer) clearTimeout(flushTimer);
  flush();
  await copier?.close();
  await witness.close();
  send({ t: 'closed' });
  port.close();
}

let priority: number | null = null;
port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'config':
      configure(m.config);
      if (m.priority !== priority) {
        priority = m.priority;
        send(setPriority(m.priority));
      }
      return;
    case 'jobs': {
      if (!copier) throw new Error('a shadow job arrived before the config');
      for (const job of m.jobs) {
        // Out of the ring at once (in order, as the ring needs), so the data plane can reuse the space.
        const bytes = ring.read(job.bodies);
        ring.release(job.bodies);
        const n = job.requestBodyLength;
        copier.submit(job, n === null ? null : bytes.subarray(0, n), bytes.subarray(n ?? 0));
      }
      return;
    }
    case 'query':
      if (m.what === 'recent') send({ t: 'answer', id: m.id, data: recent.list().map((e) => exchangeJson(e, redact!)) });
      else send({ t: 'answer', id: m.id, data: m.routes.map((route) => judge.learnedNoise(route)).filter((n) => n.learned.length > 0 || n.pairs > 0 || Object.values(n.discarded).some((v) => v > 0)) });
      return;
    case 'close':
      void (copier?.whenIdle() ?? Promise.resolve()).then(finishClose);
      return;
  }
});
