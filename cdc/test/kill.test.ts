import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Knex } from 'knex';
import { randomName, testStack } from '../../e2e/support/env';
import { countsSettled, expectSameRows, writeLoad } from '../../e2e/support/load';
import { streamingTenant, type StreamingTenant } from '../../e2e/support/streaming';

const KILLS = 20;

/**
 * kill -9 of the projector process in the middle of its batches, 20 times,
 * while a steady write load goes on in the monolith database. After the last
 * restart the service's copy equals the source row for row (a checksum per
 * table, then the differing rows), and a counting projection whose effect is
 * not idempotent counted every change exactly once.
 */
describe('projector killed with SIGKILL under load', () => {
  const tenant = randomName('kill');
  let stream: StreamingTenant;
  let source: StreamingTenant['source'];
  let target: StreamingTenant['target'];
  let src: Knex;
  let dst: Knex;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    stream = await streamingTenant(tenant, { targetPool: 2 });
    ({ source, target, src, dst } = stream);
  });

  afterAll(async () => {
    child?.kill('SIGKILL');
    await stream?.drop();
  });

  /** Starts the projector process; resolves once it has committed something new (it is mid-stream). */
  function startProjector(): Promise<ChildProcess> {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/kill-projector.ts')], {
      env: { ...process.env, KAFKA: testStack().kafka, SOURCE_URL: source.url, TARGET_URL: target.url, TENANT: tenant },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = p;
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`projector applied nothing within 60 s: ${err}`)), 60_000);
      p.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('applied ')) {
          clearTimeout(timer);
          resolve(p);
        }
      });
      p.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (signal !== 'SIGKILL') reject(new Error(`projector exited (${code ?? signal}): ${err}`));
      });
    });
  }

  const killed = (p: ChildProcess) =>
    new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });

  it(`converges to the source row for row after ${KILLS} kills mid-batch, each change applied exactly once`, async () => {
    const load = writeLoad(src, tenant);
    try {
      for (let i = 0; i < KILLS; i++) {
        const p = await startProjector();
        await new Promise((r) => setTimeout(r, Math.random() * 400));
        await killed(p);
      }
    } finally {
      await load.stop();
    }
    const last = await startProjector();
    try {
      // Converged: every table's checksum equal (or, after a minute, the differing rows shown).
      await expectSameRows(src, dst, tenant);
      // Exactly once: the counting projection saw each committed change once, no more, no less.
      const { expected, counted } = await countsSettled(dst, load);
      expect(counted).toEqual(expected);
      expect(expected['messages:c']).toBeGreaterThan(500);
    } finally {
      await killed(last);
    }
  }, 900_000);
});
