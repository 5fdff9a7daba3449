import { startNotifications } from './service';

/** The notifications service as a process: DATABASE_URL, KAFKA_BROKERS, EVENT_TOPICS (comma-separated), PORT (HOST optional). SIGTERM stops it. */
async function main(): Promise<void> {
  const env = process.env;
  const missing = ['DATABASE_URL', 'KAFKA_BROKERS', 'EVENT_TOPICS', 'PORT'].filter((k) => !env[k]);
  if (missing.length > 0) {
    console.error(`notifications: set ${missing.join(', ')} (see extracted/notifications/README.md)`);
    process.exit(2);
  }
  const service = await startNotifications({
    databaseUrl: env.DATABASE_URL!,
    brokers: env.KAFKA_BROKERS!.split(','),
    topics: env.EVENT_TOPICS!.split(','),
    port: Number(env.PORT),
    ...(env.HOST ? { host: env.HOST } : {}),
    onRejected: (reason, at) => console.error(JSON.stringify({ level: 'warn', msg: 'event rejected', reason, ...at })),
  });
  console.log(JSON.stringify({ level: 'info', msg: 'notifications service listening', url: service.url }));
  const stop = () => void service.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
