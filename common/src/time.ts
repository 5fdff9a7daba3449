import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * Polls `probe` until it returns a value other than undefined, or fails with
 * the last error seen once `timeoutMs` has passed. `abort` lets the caller stop
 * early (a child process died, say) with its own error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs?: number; abort?: () => Error | undefined },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw aborted;
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${reason}`, { cause: lastError });
    }
    await sleep(options.intervalMs ?? 200);
  }
}

export function elapsed(startedAt: bigint): string {
  const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
