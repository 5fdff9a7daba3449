import { z } from 'zod';
import { ProjectSchema } from './schema';

/** The project file's JSON Schema, generated from the zod schema (a unit test compares it with the published file). Regenerate with `npm run project:schema`. */
export function projectJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ProjectSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    ...schema,
    $id: 'https://github.com/strangler/strangler/project/schema/strangler-project.schema.json',
    title: 'Strangler project file (strangler.yaml)',
    description: "A team's own monolith: tenants with their app and database, the tables captured, extracted services with their mirrors, the proxy's routes.",
  };
}

export const PROJECT_SCHEMA_FILE = 'project/schema/strangler-project.schema.json';

if (require.main === module) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const path = require('node:path') as typeof import('node:path');
  const file = path.resolve(__dirname, '..', '..', PROJECT_SCHEMA_FILE);
  fs.writeFileSync(file, `${JSON.stringify(projectJsonSchema(), null, 2)}\n`);
  console.log(`wrote ${file}`);
}
