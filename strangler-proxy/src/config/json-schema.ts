import { z } from 'zod';
import { ProxyConfigSchema } from './schema';

/**
 * The config's JSON Schema, generated from the one zod schema so the two
 * never drift (a unit test compares it with the published file).
 * Regenerate with `npm run proxy:schema`.
 */
export function proxyConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ProxyConfigSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://github.com/strangler/strangler/strangler-proxy/schema/proxy-config.schema.json',
    title: 'strangler-proxy configuration',
    description: 'Tenants, extracted services and ordered routes (first match wins) of the strangler routing proxy.',
  };
}

export const JSON_SCHEMA_FILE = 'strangler-proxy/schema/proxy-config.schema.json';

if (require.main === module) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const path = require('node:path') as typeof import('node:path');
  const file = path.resolve(__dirname, '..', '..', '..', JSON_SCHEMA_FILE);
  fs.writeFileSync(file, `${JSON.stringify(proxyConfigJsonSchema(), null, 2)}\n`);
  console.log(`wrote ${file}`);
}
