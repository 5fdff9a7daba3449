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

describe('MirrorSchema, when the copy refuses a value', () => {
  const tooLong = Object.assign(new Error('value too long for type character varying(4)'), { code: '22001' });
  const wide: MirrorTable = { ...table, columns: [{ name: 'id', type: 'integer', notNull: true }, { name: 'name', type: 'character varying(4)', notNull: true }] };

  it('follows a column the source retyped or made nullable: the events wait (retriable) and the next transaction converts the copy', async () => {
    const schema = new MirrorSchema(wide, async (t) => ({ ...t, columns: [{ name: 'id', type: 'bigint', notNull: true }, { name: 'name', type: 'character varying(40)', notNull: false }] }));
    const error = await schema.explain(tooLong);
    expect(error).toMatchObject({ code: 'STR_ERR_CDC_SCHEMA_CHANGED', retriable: true, cause: tooLong });
    expect((error as Error).message).toBe('public.accounts: the copy refused a value (value too long for type character varying(4)); the monolith changed id to bigint, name to character varying(40) (nullable): the copy follows, and the events are applied again');
    expect(schema.table.columns).toEqual([{ name: 'id', type: 'bigint', notNull: true }, { name: 'name', type: 'character varying(40)', notNull: false }]);
    // The next transaction issues the conversion before writing.
    const issued: string[] = [];
    const trx = {
      raw: async (sql: string) => {
        issued.push(sql);
        return sql.startsWith('SELECT') ? { rows: [{ name: 'tenant', type: 'text', not_null: true }, { name: 'id', type: 'integer', not_null: true }, { name: 'name', type: 'character varying(4)', not_null: true }] } : {};
      },
    } as unknown as Knex.Transaction;
    await schema.follow([event({ id: 1, name: 'a longer name' })], trx);
    expect(issued.slice(1)).toEqual([
      'ALTER TABLE "accounts" ALTER COLUMN "id" TYPE bigint USING "id"::bigint',
      'ALTER TABLE "accounts" ALTER COLUMN "name" TYPE character varying(40) USING "name"::character varying(40)',
      'ALTER TABLE "accounts" ALTER COLUMN "name" DROP NOT NULL',
    ]);
  });

  it('lets the error stand, saying so, where the source shows no change: a poison event goes to the dead letters', async () => {
    const error = await new MirrorSchema(wide, async (t) => t).explain(tooLong);
    expect(error).toBe(tooLong);
    expect(tooLong).toMatchObject({ code: '22001', message: expect.stringContaining('the schema source shows no change to its columns') });
    expect(await new MirrorSchema(wide, undefined).explain(Object.assign(new Error('out of range'), { code: '22003' }))).toMatchObject({ code: '22003', message: expect.stringContaining('start the projection again to read its schema') });
  });

  it('never asks the source about errors that are not about a value (a lost connection, a deadlock)', async () => {
    const lost = Object.assign(new Error('terminating connection'), { code: '57P01' });
    expect(await new MirrorSchema(wide, () => Promise.reject(new Error('not asked'))).explain(lost)).toBe(lost);
  });
});

describe('MirrorSchema and generated columns', () => {
  const generated: MirrorTable = { ...table, columns: [...table.columns, { name: 'search', type: 'tsvector', notNull: true, generated: "to_tsvector('simple'::regconfig, name)" }] };

  it('expects no event to carry them (the stream never does, a snapshot does) and issues nothing either way', async () => {
    const schema = new MirrorSchema(generated, () => Promise.reject(new Error('not asked')));
    await schema.follow([event({ id: 1, name: 'streamed' })], noDatabase);
    await schema.follow([event({ id: 2, name: 'snapshot', search: "'snapshot':1" })], noDatabase);
    expect(schema.table).toEqual(generated);
  });
});
