import fs from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/** An event contract of contracts/events: its payload's JSON Schema and where it is published. */
export interface EventContract {
  readonly event: string;
  readonly version: number;
  readonly topic: string;
  readonly payload: Record<string, unknown>;
}

export const EVENTS_DIR = path.resolve(__dirname, '..', '..', '..', 'contracts', 'events');

/** Every event contract in a folder, with a validator of its payload, by `<event>@<version>`. */
export function loadEventContracts(dir = EVENTS_DIR): Map<string, EventContract & { readonly validate: ValidateFunction }> {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  const out = new Map<string, EventContract & { validate: ValidateFunction }>();
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const c = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as EventContract;
    out.set(`${c.event}@${c.version}`, { ...c, validate: ajv.compile(c.payload) });
  }
  return out;
}
