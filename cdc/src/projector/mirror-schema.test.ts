import type { Knex } from 'knex';
import type { ChangeEvent } from '../events/change-event';
import { MirrorSchema } from './mirror-schema';
import type { MirrorTable } from './mirror';

const table: MirrorTable = { source: 'public.accounts', target: 'accounts', key: ['id'], columns: [{ name: 'id', type: 'integer', notNull: true }, { name: 'name', type: 'text', notNull: false }] };
const event = (after: Record<string, unknown>) => ({ op: 'c', before: null, after }) as unknown as ChangeEvent;
/** No statement may reach the database in these cases: they are settled before any DDL. */
const noDatabase = { raw: () => Promise.reject(new Error('no statement expected')) } as unknown as Knex.Transaction;

describe('MirrorSchema, before any DDL', () => {
  it('passes events that carry exactly the known columns, and issues nothing', async () => {
    await new MirrorSchema(table, undefined).follow([event({ id: 1, name: 'a' })], noDatabase);
  });

  it('makes events with an unknown column wait, retriably, when it cannot read the schema again', async () => {
    const error = await new MirrorSchema(table, undefined).follow([event({ id: 1, name: 'a', iban: 'CH93' })], noDatabase).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STR_ERR_CDC_SCHEMA_CHANGED', retriable: true, message: expect.stringMatching(/^public\.accounts: events carry column\(s\) iban that the mirror does not know .*start the projection again/) });
  });

  it('makes them wait, retriably, while the schema source does not have the column yet (another tenant upgraded first)', async () => {
    let asked = 0;
    const schema = new MirrorSchema(table, async (t) => {
      asked++;
      return t; // the schema source still runs the older release
    });
    const error = await schema.follow([event({ id: 1, name: 'a', iban: 'CH93' })], noDatabase).catch((e: unknown) => e);
    expect(asked).toBe(1);
    expect(error).toMatchObject({ code: 'STR_ERR_CDC_SCHEMA_CHANGED', retriable: true, message: expect.stringContaining('the schema source does not have iban yet') });
    expect(schema.table.columns.map((c) => c.name)).toEqual(['id', 'name']); // nothing assumed
  });
});
