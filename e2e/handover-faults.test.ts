import { privateBrokers, type PrivateBrokers } from './support/brokers';
import { eventually } from './support/env';
import { expectSameRows } from './support/load';
import { handoverTopology, type HandoverTopology } from './support/handover-topology';
import { ledgerProblems, newLedger, writeLoad } from './support/write-ledger';

/**
 * Hand-overs under faults: the same mixed write load and the same back and
 * forth as handover.test.ts, while back-sync's applier and then Kafka
 * Connect (a worker of this test's own) are killed with SIGKILL and started
 * again. A hand-over that meets a fault is refused or goes back to the old
 * owner; whatever happens, the end state is the same: every acknowledged
 * write once in both databases.
 */
describe('write ownership: hand-overs under faults', () => {
  let brokers: PrivateBrokers;
  let topo: HandoverTopology;

  beforeAll(async () => {
    brokers = await privateBrokers();
    topo = await handoverTopology({ brokers });
  }, 400_000);

  afterAll(async () => {
    const bounded = (p: Promise<unknown>, ms: number) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())]);
    try {
      await bounded(topo?.stop() ?? Promise.resolve(), 120_000);
    } finally {
      await brokers?.stop();
    }
  }, 200_000);

  it('kills back-sync three times, then Kafka Connect twice, during hand-overs under load: every acknowledged write once on both sides', async () => {
    const [acme, globex] = topo.tenants;
    const ledgers = { acme: newLedger(), globex: newLedger() };
    const loads = [writeLoad(topo.proxy.url, acme!.name, ledgers.acme), writeLoad(topo.proxy.url, globex!.name, ledgers.globex)];
    const outcomes: Record<string, number> = {};
    const examples: Record<string, string> = {};
    let handing = true;
    const state: { owner: 'monolith' | 'service' } = { owner: 'monolith' };
    const handovers = (async () => {
      while (handing) {
        const to: 'monolith' | 'service' = state.owner === 'monolith' ? 'service' : 'monolith';
        const r = await topo.own(acme!.name, to);
        const code = r.status === 200 ? 'done' : String((r.body.error as { code?: string } | undefined)?.code ?? r.status);
        outcomes[`${to}:${code}`] = (outcomes[`${to}:${code}`] ?? 0) + 1;
        if (r.status !== 200) examples[`${to}:${code}`] ??= String((r.body.error as { message?: string } | undefined)?.message);
        if (r.status === 200) state.owner = to;
        await new Promise((res) => setTimeout(res, 400));
      }
    })();
    const kill = async (what: string, fn: () => Promise<void>, downMs: number, start: () => Promise<unknown>) => {
      await fn();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
      await new Promise((r) => setTimeout(r, 4000));
      return what;
    };
    try {
      await new Promise((r) => setTimeout(r, 3000));
      for (let i = 0; i < 3; i++) {
        await kill('back-sync', async () => {
          const child = topo.backSync()!;
          child.kill('SIGKILL');
          await new Promise((r) => child.once('exit', r));
        }, 1000, async () => topo.startBackSync());
      }
      for (let i = 0; i < 2; i++) await kill('connect', () => brokers.killConnect(), 2000, () => brokers.startConnect());
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      handing = false;
      await handovers;
      for (const l of loads) await l.stop();
    }
    // Whoever owns acme now, hand it back to the monolith once everything is up again.
    if (state.owner === 'service') {
      let last: unknown;
      await eventually(
        async () => {
          const r = await topo.own(acme!.name, 'monolith');
          last = r.body;
          return r.status === 200;
        },
        120_000,
        1000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; the last hand-back answered ${JSON.stringify(last)}\nback-sync's log ends:\n${topo.backSyncLog.join('').slice(-3000)}`);
      });
    }
    console.log(`hand-overs under faults: ${JSON.stringify(outcomes)}; acme: ${ledgers.acme.acknowledged} acknowledged, ${ledgers.acme.held503} 503; globex: ${ledgers.globex.acknowledged} acknowledged, ${ledgers.globex.held503} 503\n${Object.entries(examples).map(([k, m]) => `${k}: ${m}`).join('\n')}`);
    // A hand-back that meets a stopped back-sync is refused (the guard) or runs out of time catching up, and goes back: by design.
    // At least one hand-over went through during the faults (and the last hand-back, after them, did).
    expect(outcomes['service:done'] ?? 0).toBeGreaterThanOrEqual(1);
    expect(ledgers.acme.failures).toEqual([]);
    expect(ledgers.globex.failures).toEqual([]);
    expect(ledgers.globex.held503).toBe(0);
    for (const t of [acme!, globex!]) {
      const ledger = t === acme ? ledgers.acme : ledgers.globex;
      await eventually(async () => (await ledgerProblems(t.knex, ledger, null)).length === 0, 60_000, 500).catch(() => undefined);
      expect(await ledgerProblems(t.knex, ledger, null)).toEqual([]);
      await expectSameRows(t.knex, topo.svc, t.name, 120_000);
      expect(await ledgerProblems(topo.svc, ledger, t.name)).toEqual([]);
    }
  }, 900_000);
});
