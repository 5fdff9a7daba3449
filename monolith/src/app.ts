import express, { type Express } from 'express';
import type { Knex } from 'knex';
import { errorHandler, unknownRoute } from './http/errors';
import { messagesRouter, roomMessagesRouter } from './routes/messages';
import { roomsRouter } from './routes/rooms';
import { usersRouter } from './routes/users';

export interface AppOptions {
  readonly db: Knex;
  /** Shown by /healthz; one process serves exactly one tenant. */
  readonly tenant: string;
}

/** The monolith's HTTP API for one tenant. */
export function createApp({ db, tenant }: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // 2 MB covers the 1,000,000-character message body limit plus JSON escaping of typical text.
  app.use(express.json({ limit: '2mb', strict: true }));

  app.get('/healthz', async (_req, res) => {
    await db.raw('SELECT 1');
    res.json({ status: 'ok', tenant });
  });
  app.use('/api/users', usersRouter(db));
  app.use('/api/rooms/:roomId/messages', roomMessagesRouter(db));
  app.use('/api/rooms', roomsRouter(db));
  app.use('/api/messages', messagesRouter(db));
  app.use(unknownRoute);
  app.use(errorHandler);
  return app;
}
