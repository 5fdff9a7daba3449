import { parseArgs } from 'node:util';
import { generateTenantData } from './generator';

const USAGE = `usage: npm run seed -- --database-url postgres://postgres@127.0.0.1:54329/monolith_acme [--messages 1000000] [--users 1000] [--rooms 500] [--seed 42] [--reset]`;

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'database-url': { type: 'string' },
        messages: { type: 'string' },
        users: { type: 'string' },
        rooms: { type: 'string' },
        seed: { type: 'string' },
        reset: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`seed: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const count = (name: keyof typeof values, fallback: number | undefined): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    if (typeof raw !== 'string' || !/^\d+$/.test(raw)) {
      console.error(`seed: --${name} must be a whole number, got ${JSON.stringify(raw)}\n${USAGE}`);
      process.exit(2);
    }
    return Number(raw);
  };
  const databaseUrl = values['database-url'];
  if (!databaseUrl) {
    console.error(`seed: --database-url is required\n${USAGE}`);
    process.exit(2);
  }
  const result = await generateTenantData({
    databaseUrl,
    messages: count('messages', 10_000),
    users: count('users', 1000),
    rooms: count('rooms', undefined),
    seed: count('seed', 42),
    reset: values.reset === true,
    onProgress: (table, n) => process.stderr.write(`\r${table}: ${n.toLocaleString('en')} rows   `),
  });
  process.stderr.write('\n');
  console.log(JSON.stringify(result));
}

main().catch((err: Error) => {
  console.error(`seed: ${err.message}`);
  process.exit(1);
});
