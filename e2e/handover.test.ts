import { Kafka, logLevel } from 'kafkajs';
import { backSyncTopic } from '@strangler/backsync';
import { eventually, testStack } from './support/env';
import { expectSameRows } from './support/load';
import { handoverTopology, type HandoverTopology } from './support/handover-topology';
import { ledgerProblems, newLedger, writeLoad } from './support/write-ledger';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
};

/**
 * Write ownership over the real stack: the messaging domain of one tenant
 * handed to the service and back, again and again, under a steady mixed
 * write load through the proxy for both tenants; then the end state is
 * checked against a ledger of every write the proxy acknowledged.
 */
describe('write ownership: hand-overs under load', () => {
  let topo: HandoverTopology;

  beforeAll(async () => {
    topo = await handoverTopology();
  }, 300_000);

  afterAll(async () => {
    await topo?.stop();
  }, 120_000);

  it('hands acme\'s messaging to the service and back 10 times under load: every acknowledged write once on both sides, globex never paused, no loop', async () => {
    const [acme, globex] = topo.tenants;
    const ledgers = { acme: newLedger(), globex: newLedger() };
    const loads = [writeLoad(topo.proxy.url, acme!.name, ledgers.acme), writeLoad(topo.proxy.url, globex!.name, ledgers.globex)];
    const pauses: number[] = [];
    const steps: string[] = [];
    try {
      await new Promise((r) => setTimeout(r, 1500));
      for (let i = 0; i < 10; i++) {
        for (const to of ['service', 'monolith'] as const) {
          const r = await topo.own(acme!.name, to);
          if (r.status !== 200) throw new Error(`hand-over ${i + 1} to the ${to}: ${r.status} ${JSON.stringify(r.body)}\n${topo.backSyncLog.join('').slice(-2000)}`);
          const f = r.body.figures as Record<string, number>;
          pauses.push(f.pauseMs!);
          steps.push(`${to}: pause ${f.pauseMs} ms (drain ${f.drainMs}, ${to === 'service' ? `fence ${f.fenceMs}` : `revoke ${f.revokeMs}`}, catch-up ${f.catch_upMs}, flip ${f.flipMs})`);
          await new Promise((res) => setTimeout(res, 500));
        }
      }
    } finally {
      for (const l of loads) await l.stop();
    }
    console.log(
      `hand-overs: 20 (10 each way); write pause p50 ${pct(pauses, 50)} ms, p99 ${pct(pauses, 99)} ms, max ${Math.max(...pauses)} ms\n` +
        `acme: ${ledgers.acme.acknowledged} writes acknowledged, ${ledgers.acme.held503} answered 503 with Retry-After; globex: ${ledgers.globex.acknowledged} acknowledged, ${ledgers.globex.held503} 503\n${steps.slice(0, 4).join('\n')}`,
    );
    expect(ledgers.acme.failures).toEqual([]);
    expect(ledgers.globex.failures).toEqual([]);
    expect(ledgers.globex.held503).toBe(0);
    expect(ledgers.acme.acknowledged).toBeGreaterThan(200);
    // Every acknowledged write, exactly once, in the monolith (which owns acme again) and in the service's copy.
    for (const t of [acme!, globex!]) {
      const ledger = t === acme ? ledgers.acme : ledgers.globex;
      await eventually(async () => (await ledgerProblems(t.knex, ledger, null)).length === 0, 30_000).catch(() => undefined);
      expect(await ledgerProblems(t.knex, ledger, null)).toEqual([]);
      await expectSameRows(t.knex, topo.svc, t.name, 60_000);
      expect(await ledgerProblems(topo.svc, ledger, t.name)).toEqual([]);
    }
    // Back-sync never wrote globex: no change of ownership of it ever reached its database.
    expect((await globex!.knex.raw("SELECT count(*)::int AS n FROM strangler.backsync_state")).rows[0].n).toBe(0);
    // No loop: once the load is over, no topic of acme nor back-sync's keeps growing.
    const kafka = new Kafka({ clientId: 'handover-test', brokers: [testStack().kafka], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topics = [`${acme!.name}.public.rooms`, `${acme!.name}.public.messages`, `${acme!.name}.public.room_members`, backSyncTopic(topo.service_name)];
      const ends = async () => JSON.stringify(await Promise.all(topics.map(async (t) => (await admin.fetchTopicOffsets(t)).map((p) => p.high))));
      const first = await ends();
      await new Promise((r) => setTimeout(r, 3000));
      expect(await ends()).toBe(first);
    } finally {
      await admin.disconnect();
    }
  }, 900_000);
});
