/**
 * Seed benchmark: fills a fresh, migrated monolith database with 1,000,000
 * messages through the generator (COPY), and prints rows/s.
 *
 * Method: one run, closed loop, one COPY stream per table, indexes and foreign
 * keys in place (as the real schema has them). Server: the running stack's
 * PostgreSQL, or --server-url. Last line: one JSON object with the figures.
 *
 *   npm run bench:seed [-- --server-url postgresql://postgres@127.0.0.1:54329/postgres] [--messages 1000000]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { migrate } from '@strangler/migrations';
import { generateTenantData } from '@strangler/monolith';
import { databaseUrl, loadStackConfig, readState, stackLayout } from '@strangler/stack';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'server-url': { type: 'string' }, messages: { type: 'string', default: '1000000' } } });
  const server = values['server-url'] ?? readState(stackLayout(loadStackConfig()))?.endpoints.postgresAdminUrl;
  if (!server) throw new Error('no server: start the stack (npm start) or pass --server-url');
  const messages = Number(values.messages);
  const name = `bench_seed_${process.pid}`;
  const admin = new Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = databaseUrl(server, name);
    await migrate('monolith', url);
    const result = await generateTenantData({ databaseUrl: url, messages, users: 1000 });
    const figures = {
      messages: result.messages,
      seconds: +(result.ms / 1000).toFixed(1),
      messages_per_s: Math.round(result.messages / (result.ms / 1000)),
      under_a_minute: result.ms < 60_000,
      machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    };
    console.log(`seeded ${result.users} users, ${result.rooms} rooms, ${result.members} members, ${result.messages} messages in ${figures.seconds} s`);
    console.log(JSON.stringify(figures));
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

main().catch((err: Error) => {
  console.error(`bench:seed: ${err.message}`);
  process.exit(1);
});
