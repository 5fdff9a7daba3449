import { startMessaging } from './service';

/**
 * The messaging service as a process: DATABASE_URL, KAFKA_BROKERS,
 * SCHEMA_SOURCE_URL, PORT (HOST, TENANTS optional). SIGTERM stops it.
 */
async function main(): Promise<void> {
  const env = process.env;
  const missing = ['DATABASE_URL', 'KAFKA_BROKERS', 'SCHEMA_SOURCE_URL', 'PORT'].filter((k) => !env[k]);
  if (missing.length > 0) {
    console.error(`messaging: set ${missing.join(', ')} (see extracted/messaging/README.md)`);
    process.exit(2);
  }
  const service = await startMessaging({
    databaseUrl: env.DATABASE_URL!,
    brokers: env.KAFKA_BROKERS!.split(','),
    schemaSourceUrl: env.SCHEMA_SOURCE_URL!,
    port: Number(env.PORT),
    ...(env.HOST ? { host: env.HOST } : {}),
    ...(env.TENANTS ? { tenants: env.TENANTS.split(',') } : {}),
    onError: (err) => console.error(JSON.stringify({ level: 'warn', msg: 'projection', err: (err as Error).message })),
    onWarning: (w) => console.error(JSON.stringify({ level: 'warn', msg: 'projection', code: (w as { code?: string }).code, warning: w.message })),
    // Each monolith write to an owned table outside the domain's routes, with its table and key (detect mode).
    onConflict: (events) => {
      for (const e of events) console.error(JSON.stringify({ level: 'warn', msg: 'the monolith wrote a table whose domain the service owns: not applied (the service holds the truth)', tenant: e.tenant, table: `${e.source.schema}.${e.source.table}`, op: e.op, key: e.key, lsn: e.source.lsn?.toString() ?? null }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    },
    onTopicsAdded: (topics) => console.log(JSON.stringify({ level: 'info', msg: 'new topics consumed (a tenant onboarded, or a table\'s first event)', topics })),
  });
  console.log(JSON.stringify({ level: 'info', msg: 'messaging service listening', url: service.url }));
  const stop = () => void service.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
