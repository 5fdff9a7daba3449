/**
 * The primary's sends to a worker that has just died. The worker's exit is
 * seen only when the primary's loop gets to it; a write in between fails
 * with EPIPE, and that failure must not surface as an unhandled 'error'
 * event (which crashed the primary, and every worker with it, in the full
 * suite's cluster test). A real child process on an IPC channel, killed,
 * then written to in the same tick, as the primary does when it relays a
 * worker's parity counts or answers a gather. Without the fix the test sees
 * EPIPE errors.
 */
import { spawn } from 'node:child_process';
import { send } from '../src/cluster/primary';

describe('sending to a worker that just died', () => {
  it('absorbs the failed write instead of emitting an error', async () => {
    const child = spawn(process.execPath, ['-e', "process.on('message', () => {}); process.send('up'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const errors: Error[] = [];
    child.on('error', (e) => errors.push(e));
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await new Promise((r) => child.once('message', r));
      const worker = { isConnected: () => child.connected, send: child.send.bind(child) } as Parameters<typeof send>[0];
      child.kill('SIGKILL');
      // Written in the same tick as the kill, for 100 ms: the channel still looks connected, the writes fail.
      // Large messages, so that the writes reach the dead end within the loop instead of waiting in the pipe.
      const answer = { t: 'strangler:gathered', id: 1, results: [{ worker: '2', data: 'x'.repeat(100_000) }], missing: [] } as const;
      const until = Date.now() + 100;
      let sent = 0;
      while (Date.now() < until) {
        send(worker, answer);
        sent++;
      }
      await exited;
      await new Promise((r) => setTimeout(r, 200));
      expect(sent).toBeGreaterThan(0);
      expect(errors).toEqual([]);
    } finally {
      child.kill('SIGKILL'); // never left behind, whatever failed above
    }
  });
});
