import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ShadowCopier, starvedAfter } from '../src/shadow/copier';
import type { ShadowExchange } from '../src/shadow/exchange';
import type { CopyJob, CopyOutcome } from '../src/shadow/protocol';

/**
 * The copier's timeout against a real upstream that never answers: a copy
 * whose deadline passes while the copier runs is the target's timeout; one
 * whose timer fires late because the copier's own thread could not run (here
 * the event loop is held by a busy loop, as a starved low-priority thread
 * is) is `starved`, and says nothing about the target.
 */
describe('shadow copier timeouts', () => {
  let server: http.Server;
  let origin: string;
  const copiers: ShadowCopier[] = [];

  beforeAll(async () => {
    server = http.createServer(() => {}); // never answers
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await Promise.all(copiers.map((c) => c.close()));
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const job = (seq: number): CopyJob => ({
    seq,
    route: 'r',
    tenant: 't',
    service: 's',
    origin,
    method: 'GET',
    path: '/hang',
    headers: ['x-strangler-shadow', '1'],
    bodies: { at: 0, length: 0, charge: 0 },
    requestBodyLength: null,
    primary: { status: 200, headers: {}, truncated: false, ms: 1 },
  });

  const copier = (timeoutMs: number) => {
    const done: Array<{ outcome: CopyOutcome; exchange: ShadowExchange }> = [];
    const c = new ShadowCopier({ queue: 10, concurrency: 2, timeoutMs, maxBodyBytes: 1000 }, (_job, exchange, outcome) => done.push({ outcome, exchange }), async () => ({ writes: null, database: null }));
    copiers.push(c);
    return { c, done };
  };

  it('counts a target that does not answer in time as a timeout', async () => {
    const { c, done } = copier(150);
    c.submit(job(1), null, Buffer.from('{}'));
    await c.whenIdle();
    expect(done).toHaveLength(1);
    expect(done[0]!.outcome).toBe('timeout');
    expect(done[0]!.exchange.shadow).toMatchObject({ error: 'no answer within 150 ms' });
  });

  it('counts a copy whose thread could not run past its deadline as starved, not as the target timing out', async () => {
    const { c, done } = copier(150);
    c.submit(job(2), null, Buffer.from('{}'));
    const until = performance.now() + 150 + starvedAfter(150) + 400;
    while (performance.now() < until) {
      // the copier's thread holds no CPU for it: its timer can only fire late
    }
    await c.whenIdle();
    expect(done).toHaveLength(1);
    expect(done[0]!.outcome).toBe('starved');
    expect((done[0]!.exchange.shadow as { error: string }).error).toMatch(/^the shadow thread could not run for \d+ ms past the 150 ms deadline \(busy host\); the target is not judged$/);
  });
});
