import fs from 'node:fs';

/** A task Kafka Connect keeps restarting although its state reads RUNNING (a retriable error: Debezium starts it again every 10 s). */
export interface TaskRestarts {
  /** `<connector>-<task id>`, as Connect names it. */
  readonly task: string;
  /** Restarts seen within the window. */
  readonly count: number;
  readonly lastAt: string;
  /** The root cause of the last one (the last `Caused by:` of its trace, else its exception). */
  readonly cause: string;
}

const FAILED_POLL = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d),(\d{3})\] WARN WorkerSourceTask\{id=([^}]+)\} failed to poll records from SourceTask\. Will retry operation\./;
const STAMPED = /^\[\d{4}-\d\d-\d\dT/;

/**
 * Reads Connect's log (its log4j layout: `[yyyy-MM-ddTHH:mm:ss,SSS] LEVEL
 * message`) for source tasks whose poll failed with a retriable error, each
 * a restart of the task; counts those since `since` per task, with the
 * root cause of the latest. Times in the log are the worker's local time
 * (`tzOffsetMinutes`, as Date#getTimezoneOffset gives it).
 */
export function parseTaskRestarts(log: string, since: Date, tzOffsetMinutes = new Date().getTimezoneOffset()): TaskRestarts[] {
  const lines = log.split('\n');
  const found = new Map<string, { count: number; lastAt: number; cause: string }>();
  for (let i = 0; i < lines.length; i++) {
    const m = FAILED_POLL.exec(lines[i]!);
    if (!m) continue;
    const at = Date.parse(`${m[1]}.${m[2]}Z`) + tzOffsetMinutes * 60_000;
    if (at < since.getTime()) continue;
    let cause = lines[i + 1]?.trim() ?? '';
    for (let j = i + 1; j < lines.length && !STAMPED.test(lines[j]!); j++) {
      if (lines[j]!.startsWith('Caused by: ')) cause = lines[j]!.slice('Caused by: '.length).trim();
    }
    const prior = found.get(m[3]!);
    found.set(m[3]!, { count: (prior?.count ?? 0) + 1, lastAt: Math.max(at, prior?.lastAt ?? 0), cause });
  }
  return [...found].map(([task, r]) => ({ task, count: r.count, lastAt: new Date(r.lastAt).toISOString(), cause: r.cause }));
}

/** The end of a (possibly large) log file: what a status needs, read without loading the whole file. */
export function readLogTail(file: string, maxBytes = 8 * 1024 * 1024): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buf = Buffer.alloc(size - start);
    fs.readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
