import { compileConfig } from '../config/compile';
import { runParity, type Send, type TimedAnswer } from './runner';

const TOKEN = 'x'.repeat(32);

/** A config with one tenant and one shadowed route to one service; nothing is served (the runner's `send` is the test's). */
const config = compileConfig(
  {
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0, tokens: [{ name: 'ops', role: 'write', token: { value: TOKEN } }] },
    controlStore: { url: { value: 'postgresql://127.0.0.1:1/unused' } },
    tenants: { acme: { monolith: 'http://monolith.test', hosts: ['acme.localhost'] } },
    services: { messaging: { url: 'http://service.test' } },
    routes: [{ id: 'room', match: { method: 'GET', path: '/api/rooms/:id' }, service: 'messaging', mode: 'shadow' }],
  },
  'runner.test',
);

const answer = (body: unknown): TimedAnswer => ({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)), ms: 1 });

describe('runParity, judging once every sample has taught its noise', () => {
  it("suppresses noise learned from a later sample in an earlier one, and keeps an example's bodies only for real mismatches", async () => {
    // The monolith repeats itself exactly except on room 3's second ask, where `served_at` moves: only then is it known as noise.
    // The service differs from the monolith in `served_at` on every room, and in `name` on room 2 (a real difference).
    const asked = new Map<string, number>();
    const send: Send = async (base, req) => {
      const id = Number(req.path.split('/').pop());
      if (base === 'http://service.test') return answer({ id, name: id === 2 ? 'other' : `room ${id}`, served_at: 'service' });
      const n = (asked.get(req.path) ?? 0) + 1;
      asked.set(req.path, n);
      return answer({ id, name: `room ${id}`, served_at: id === 3 && n === 2 ? 'later' : 'monolith' });
    };
    const entries = [1, 2, 3].map((id) => ({ method: 'GET', path: `/api/rooms/${id}`, headers: {}, body: null }));
    // A bar that one pair in three meets, to see noise learned late applied early; filtered comparisons are not matches.
    const report = await runParity({ config, tenant: 'acme', entries, send, concurrency: 1, noise: { minPairs: 3, minShare: 0.3 } });

    expect(report.routes).toMatchObject([{ samples: 3, matches: 0, mismatches: 1, noiseSuppressed: 2, errors: 0, passed: false, learnedNoise: [expect.objectContaining({ path: '$.served_at', noise: true })] }]);
    expect(report.totals).toMatchObject({ compared: 3, matches: 0, filtered: 2, mismatches: 1 });
    expect(report.mismatches).toHaveLength(1);
    expect(report.mismatches[0]).toMatchObject({
      request: { path: '/api/rooms/2' },
      differences: [{ path: '$.name', primary: 'room 2', candidate: 'other' }],
      noise: [{ path: '$.served_at' }],
      monolith: { status: 200, body: expect.stringContaining('"name":"room 2"') },
      extracted: { status: 200, body: expect.stringContaining('"name":"other"') },
    });
  });

  it('learns nothing from one sighting under the default bar: every difference counts, and the path is listed under the bar', async () => {
    const asked = new Map<string, number>();
    const send: Send = async (base, req) => {
      const id = Number(req.path.split('/').pop());
      if (base === 'http://service.test') return answer({ id, served_at: 'service' });
      const n = (asked.get(req.path) ?? 0) + 1;
      asked.set(req.path, n);
      return answer({ id, served_at: id === 3 && n === 2 ? 'later' : 'monolith' });
    };
    const entries = [1, 2, 3].map((id) => ({ method: 'GET', path: `/api/rooms/${id}`, headers: {}, body: null }));
    const report = await runParity({ config, tenant: 'acme', entries, send, concurrency: 1 });
    expect(report.routes).toMatchObject([{ samples: 3, matches: 0, noiseSuppressed: 0, mismatches: 3, learnedNoise: [{ path: '$.served_at', seen: 1, samples: 3, noise: false }] }]);
  });

  it('discards a pair whose difference a change of data explains, and says why', async () => {
    const asked = new Map<string, number>();
    const send: Send = async (base, req) => {
      if (base === 'http://service.test') return answer({ items: [{ id: 1 }] });
      const n = (asked.get(req.path) ?? 0) + 1;
      asked.set(req.path, n);
      return answer({ items: n === 1 ? [{ id: 1 }] : [{ id: 1 }, { id: 2 }] });
    };
    const report = await runParity({ config, tenant: 'acme', entries: [{ method: 'GET', path: '/api/rooms/1', headers: {}, body: null }], send, concurrency: 1 });
    expect(report.routes).toMatchObject([{ matches: 1, noiseDiscarded: 1, noiseDiscards: { elements_changed: 1 }, learnedNoise: [] }]);
    expect(report.totals.noiseDiscarded).toBe(1);
  });

  it("judges a sample whose monolith fails the second ask (that ask only teaches noise), and counts a failed first ask as an error", async () => {
    const asked = new Map<string, number>();
    const send: Send = async (base, req) => {
      const n = (asked.get(`${base}${req.path}`) ?? 0) + 1;
      asked.set(`${base}${req.path}`, n);
      if (base === 'http://monolith.test' && (n === 2 || req.path.endsWith('/2'))) throw new Error('monolith away');
      return answer({ path: req.path });
    };
    const entries = [1, 2].map((id) => ({ method: 'GET', path: `/api/rooms/${id}`, headers: {}, body: null }));
    const report = await runParity({ config, tenant: 'acme', entries, send, concurrency: 1 });
    expect(report.routes).toMatchObject([{ samples: 2, matches: 1, mismatches: 0, errors: 1, passed: false }]);
  });
});
