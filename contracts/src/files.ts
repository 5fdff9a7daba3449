import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ContractsError } from './errors';
import type { Shape, StreamContract } from './contract';
import type { Consumer } from './compare';

/** The repository's contracts folder: streams/<schema>.<table>.json and consumers/<name>.json. */
export interface ContractsDir {
  readonly dir: string;
}

const ConsumerSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'must be lowercase letters, digits and dashes'),
    owner: z.string().min(1),
    kind: z.enum(['mirror', 'projection', 'service']),
    reads: z.record(z.string().regex(/^[A-Za-z_][\w$]*\.[A-Za-z_][\w$]*$/, 'must be <schema>.<table>'), z.union([z.literal('*'), z.array(z.string().min(1)).min(1)])).default({}),
    events: z.array(z.string().regex(/^[a-z][a-z0-9-]*@\d+$/, 'must be <event>@<version>, e.g. message-posted@1')).optional(),
    freshnessMs: z.number().int().positive().optional(),
    group: z.string().min(1).optional(),
  })
  .strict();

export function readContracts(dir: string): Map<string, StreamContract> {
  const out = new Map<string, StreamContract>();
  for (const { file, value } of jsonFiles(path.join(dir, 'streams'), ': fix it, or write it again with `strangler contracts snapshot`')) {
    const c = value as StreamContract;
    if (typeof c?.stream !== 'string' || !Array.isArray(c.columns) || !Array.isArray(c.key)) throw new ContractsError('STR_ERR_CONTRACTS_FILE', `${file} is not a stream contract (stream, key, columns): write it again with \`strangler contracts snapshot\``);
    out.set(c.stream, c);
  }
  return out;
}

export function writeContract(dir: string, c: StreamContract): string {
  const folder = path.join(dir, 'streams');
  fs.mkdirSync(folder, { recursive: true });
  const file = path.join(folder, `${c.stream}.json`);
  fs.writeFileSync(file, `${JSON.stringify(c, null, 2)}\n`);
  return file;
}

export function readConsumers(dir: string): Consumer[] {
  return jsonFiles(path.join(dir, 'consumers')).map(({ file, value }) => {
    const r = ConsumerSchema.safeParse(value);
    if (!r.success) throw new ContractsError('STR_ERR_CONTRACTS_FILE', `${file}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    return r.data as Consumer;
  });
}

/** Every `*.json` of a folder (none when it is missing), parsed, in name order; one that is not JSON is refused with its path. */
function jsonFiles(folder: string, hint = ''): Array<{ file: string; value: unknown }> {
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((x) => x.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = path.join(folder, f);
      try {
        return { file, value: JSON.parse(fs.readFileSync(file, 'utf8')) as unknown };
      } catch (err) {
        throw new ContractsError('STR_ERR_CONTRACTS_FILE', `${file} is not valid JSON (${(err as Error).message})${hint}`);
      }
    });
}

/** An event contract of contracts/events (designed by its producer, not derived). */
export interface EventContractFile {
  readonly event: string;
  readonly version: number;
  readonly producer: string;
  readonly owner: string | null;
  readonly topic: string;
  readonly description?: string;
}

export function readEventContracts(dir: string): EventContractFile[] {
  return jsonFiles(path.join(dir, 'events')).map(({ value }) => value as EventContractFile);
}

export const shapeOf = (c: StreamContract): Shape => ({ stream: c.stream, key: c.key, columns: c.columns });
