import express from 'express';
import { expectParity, ParityMismatchError } from './expect';

/** expectParity over two in-process apps (supertest drives them; no port, no network). */
describe('expectParity', () => {
  let n = 0;
  const monolith = express().get('/api/rooms/:id', (req, res) => {
    res.json({ id: Number(req.params.id), name: 'FX desk', request_id: `m${++n}`, members: [{ user_id: 1 }, { user_id: 2 }], at: '2026-11-25T10:00:00.123456Z' });
  });
  const candidate = express().get('/api/rooms/:id', (req, res) => {
    if (req.get('x-strangler-tenant') !== 'acme') return void res.status(400).json({ error: { code: 'tenant_required' } });
    res.json({ id: Number(req.params.id), name: req.params.id === '9' ? 'fx desk' : 'FX desk', request_id: `c${++n}`, members: [{ user_id: 2 }, { user_id: 1 }], at: '2026-11-25T10:00:00.123Z' });
  });
  const options = { monolith, candidate, candidateHeaders: { 'x-strangler-tenant': 'acme' }, sets: { '$.members': 'user_id' } };

  it('passes when only learned noise and normalised formats differ, and says what was noise', async () => {
    const c = await expectParity('/api/rooms/1', options);
    expect(c.match).toBe(true);
    expect(c.noise.map((d) => d.path)).toEqual(['$.request_id']);
  });

  it('sends a write to the monolith once: no noise is learned from writes', async () => {
    let writes = 0;
    const app = express().post('/api/rooms', (_req, res) => void res.status(201).json({ id: ++writes }));
    const c = await expectParity({ method: 'POST', path: '/api/rooms', body: { name: 'x' } }, { monolith: app, candidate: express().post('/api/rooms', (_req, res) => void res.status(201).json({ id: 1 })) });
    expect(c.match).toBe(true);
    expect(writes).toBe(1);
  });

  it('throws a readable error listing each real difference', async () => {
    const err = await expectParity({ method: 'GET', path: '/api/rooms/9' }, options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ParityMismatchError);
    expect((err as Error).message).toBe('GET /api/rooms/9: the candidate differs from the monolith in 1 place(s)\n  $.name (value): monolith "FX desk", candidate "fx desk"');
    await expect(expectParity('/api/rooms/1', { ...options, candidateHeaders: {} })).rejects.toThrow(/status \(status\): monolith 200, candidate 400/);
  });
});
