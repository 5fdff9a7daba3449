import type { Knex } from 'knex';
import type { ChangeEvent } from '../events/change-event';
import { CdcError } from '../errors';
import type { MirrorColumn, MirrorTable } from './mirror';

export const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
export const qt = (name: string) => name.split('.').map(q).join('.');

/** The copy's columns as its catalog has them now: name -> type (format_type) and NOT NULL. */
async function copyColumns(db: Knex | Knex.Transaction, target: string): Promise<Map<string, { type: string; notNull: boolean }>> {
  const { rows } = await db.raw<{ rows: Array<{ name: string; type: string; not_null: boolean }> }>(
    'SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS not_null FROM pg_attribute WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped',
    [target],
  );
  return new Map(rows.map((r) => [r.name, { type: r.type, notNull: r.not_null }]));
}

/** A string as an SQL literal (standard_conforming_strings: only quotes are doubled). */
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** A column of the copy's CREATE TABLE or ADD COLUMN: its type, a generated column's expression, NOT NULL. */
export function columnDefinition(c: MirrorColumn): string {
  return `${q(c.name)} ${c.type}${c.generated !== undefined ? ` GENERATED ALWAYS AS (${c.generated}) STORED` : ''}${c.notNull ? ' NOT NULL' : ''}`;
}

/** The statements that make the copy's column `have` (undefined: absent) what `want` says: added nullable, retyped, NOT NULL dropped. */
function alterations(target: string, want: MirrorColumn, have: { type: string; notNull: boolean } | undefined, keepNotNull: boolean): string[] {
  const column = `${qt(target)} ALTER COLUMN ${q(want.name)}`;
  if (!have) {
    const add = `ALTER TABLE ${qt(target)} ADD COLUMN IF NOT EXISTS ${columnDefinition({ ...want, notNull: false })}`;
    if (want.missing === undefined || want.generated !== undefined) return [add];
    // Rows older than the column hold the source's value for them (its constant default), and keep it when the
    // default goes again at once: new rows get what their events carry (or NULL, from a tenant yet to migrate).
    return [`${add} DEFAULT ${literal(want.missing)}::${want.type}`, `ALTER TABLE ${column} DROP DEFAULT`];
  }
  const out: string[] = [];
  // The source converted its own rows the same way, and the copy holds the same values.
  // (A generated column takes no USING: it is computed again.)
  if (have.type !== want.type) out.push(`ALTER TABLE ${column} TYPE ${want.type}${want.generated === undefined ? ` USING ${q(want.name)}::${want.type}` : ''}`);
  if (have.notNull && !want.notNull && !keepNotNull) out.push(`ALTER TABLE ${column} DROP NOT NULL`);
  return out;
}

/**
 * A copy that exists already meets the spec read at start: columns the
 * monolith added while the service was down are added (nullable: the rows
 * copied before have no value), columns whose type it changed are converted,
 * and columns it dropped or relaxed stop being required.
 */
export async function reconcileCopy(db: Knex, t: MirrorTable): Promise<string[]> {
  const present = await copyColumns(db, t.target);
  const keep = new Set(['tenant', ...t.key]);
  const added: string[] = [];
  for (const c of t.columns) {
    const have = present.get(c.name);
    if (!have) added.push(c.name);
    for (const sql of alterations(t.target, have ? c : { ...c, notNull: false }, have, keep.has(c.name))) await db.raw(sql);
  }
  for (const [name, { notNull }] of present) if (notNull && !keep.has(name) && !t.columns.some((c) => c.name === name)) await db.raw(`ALTER TABLE ${qt(t.target)} ALTER COLUMN ${q(name)} DROP NOT NULL`);
  // The names of the columns added to a copy that existed (none to one just created).
  return present.size === 0 ? [] : added;
}

/** A column added with a volatile default: the source's existing rows got values without events. */
export function notBackfilled(t: MirrorTable, c: MirrorColumn): CdcError {
  return new CdcError(
    'STR_ERR_CDC_COLUMN_NOT_BACKFILLED',
    `${t.source}.${c.name} was added with a default that calls a volatile function (${c.volatileDefault}): PostgreSQL wrote a value of its own into every existing row and sent no change events for it, so the copy's rows older than the column have NULL there; ask for the table's rows again for every tenant (strangler cdc snapshot --tenant <tenant> --database-url <its database> --table ${t.source})`,
    { context: { source: t.source, column: c.name, default: c.volatileDefault } },
  );
}

/** Reads a mirrored table's spec again from its source catalog (readTableSpec), for columns a migration added. */
export type RefreshSpec = (table: MirrorTable) => Promise<MirrorTable>;

/**
 * One mirrored table's spec as the monolith's schema moves on while the
 * mirror runs (the monolith still ships every week):
 * - a column that events carry and the spec lacks (added by a migration) is
 *   read from the source catalog and added to the copy, nullable, with its
 *   source type; until the catalog shows it (another tenant's monolith may
 *   run the newer release first), the events wait: a retriable error, so
 *   nothing is dropped;
 * - a column that the spec has and events no longer carry (dropped by a
 *   migration) is never written over: updates leave it as it was, new rows
 *   get NULL, so the copy's column is made nullable;
 * - a value the copy refuses (too long, out of range, NULL where the copy
 *   says NOT NULL) sends it to the source catalog: a column whose type
 *   changed (varchar(34) widened, int made bigint) is converted in the copy,
 *   one made nullable is made so, and the events are applied again; where
 *   the catalog shows no such change the error stands (a poison event).
 * Changes to the copy run inside the projection's transaction; one is taken
 * as done only once a later transaction finds it in the catalog, so a
 * transaction that rolls back leaves nothing assumed.
 */
export class MirrorSchema {
  /** Every column the spec knows. */
  private names: Set<string>;
  /** The columns every event must carry (not generated: PostgreSQL does not publish those). */
  private carried: Set<string>;
  /** DDL issued but not yet seen committed: column name -> the column as the copy must have it. */
  private readonly pending = new Map<string, MirrorColumn>();
  /** Columns events lacked that were looked up in the source catalog (dropped there, or never captured). */
  private readonly looked = new Set<string>();

  constructor(
    public table: MirrorTable,
    private readonly refresh: RefreshSpec | undefined,
    private readonly onWarning: ((warning: CdcError) => void) | undefined = undefined,
  ) {
    this.names = new Set(table.columns.map((c) => c.name));
    this.carried = new Set(table.columns.filter((c) => c.generated === undefined).map((c) => c.name));
  }

  /** Brings the spec and the copy in line with what `events` carry; throws a retriable error while it cannot. */
  async follow(events: readonly ChangeEvent[], trx: Knex.Transaction): Promise<void> {
    const { unknown, absent } = this.drift(events);
    if (unknown.size > 0) await this.learn(unknown);
    await this.notCaptured(absent);
    for (const name of absent) {
      const column = this.table.columns.find((c) => c.name === name)!;
      if (!column.notNull) continue;
      this.replace({ ...column, notNull: false });
      this.pending.set(name, { ...column, notNull: false });
    }
    if (this.pending.size > 0) await this.ensure(trx);
  }

  /**
   * What to throw for an error the copy raised while writing `events`: when
   * the value did not fit (a data exception, a NOT NULL violation) and the
   * source catalog shows the column changed, the change is noted for the next
   * transaction and the events wait (retriable); otherwise the error itself.
   */
  async explain(err: unknown): Promise<unknown> {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !(code.startsWith('22') || code === '23502')) return err;
    const what = `${this.table.source}: the copy refused a value (${(err as Error).message})`;
    if (!this.refresh) return withHint(err, `${what}; if the monolith changed the column, start the projection again to read its schema, then ask for the table's rows again (strangler cdc snapshot): retrying the dead letters would set rows changed since back to these old values`);
    let fresh: MirrorTable;
    try {
      fresh = await this.refresh(this.table);
    } catch (e) {
      return e; // the catalog cannot be read now (retriable): the events wait
    }
    const changed: MirrorColumn[] = [];
    for (const c of fresh.columns) {
      const mine = this.table.columns.find((m) => m.name === c.name);
      if (!mine) continue; // a column added: learnt from the events that carry it
      // Followed: a new type, and NOT NULL dropped (never added: the copy may hold rows the source has not yet sent again).
      const notNull = mine.notNull && c.notNull;
      if (c.type !== mine.type || notNull !== mine.notNull) changed.push({ ...mine, type: c.type, notNull });
    }
    if (changed.length === 0) {
      return withHint(err, `${what}; the schema source shows no change to its columns (if this tenant's monolith runs a newer release than the schema source, ask for the table's rows again once it has it: strangler cdc snapshot)`);
    }
    for (const c of changed) {
      this.replace(c);
      this.pending.set(c.name, c);
    }
    return new CdcError('STR_ERR_CDC_SCHEMA_CHANGED', `${what}; the monolith changed ${changed.map((c) => `${c.name} to ${c.type}${c.notNull ? '' : ' (nullable)'}`).join(', ')}: the copy follows, and the events are applied again`, {
      retriable: true,
      cause: err,
      context: { source: this.table.source, columns: changed.map((c) => c.name) },
    });
  }

  /**
   * A column events lack is either dropped by the monolith (followed: never
   * written over) or one Debezium never sends (no converter for its type): the
   * source catalog tells them apart, once per column. The second is said
   * (STR_ERR_CDC_COLUMN_NOT_CAPTURED), since the copy's column stays NULL.
   */
  private async notCaptured(absent: ReadonlySet<string>): Promise<void> {
    const fresh = [...absent].filter((n) => !this.looked.has(n));
    if (fresh.length === 0 || !this.refresh || !this.onWarning) return;
    let source: MirrorTable;
    try {
      source = await this.refresh(this.table);
    } catch {
      return; // the catalog cannot be read now: looked at again with the next events
    }
    for (const name of fresh) {
      this.looked.add(name);
      const column = source.columns.find((c) => c.name === name && c.generated === undefined);
      if (!column) continue;
      this.onWarning(
        new CdcError('STR_ERR_CDC_COLUMN_NOT_CAPTURED', `${this.table.source}.${name} (${column.type}) is in the source table but in none of its change events: Debezium has no converter for that type (its log says "No converter found"), so the copy's ${name} stays NULL; leave it out of what the service reads, or copy it another way`, {
          context: { source: this.table.source, column: name, type: column.type },
        }),
      );
    }
  }

  /** Columns the events carry that the spec lacks, and spec columns the events no longer carry. */
  private drift(events: readonly ChangeEvent[]): { unknown: Set<string>; absent: Set<string> } {
    const unknown = new Set<string>();
    const absent = new Set<string>();
    for (const e of events) {
      const row = e.after ?? e.before;
      if (!row) continue;
      let carried = 0;
      for (const k in row) {
        if (this.carried.has(k)) carried++;
        else if (!this.names.has(k)) unknown.add(k);
      }
      if (carried < this.carried.size) for (const n of this.carried) if (!(n in row)) absent.add(n);
    }
    return { unknown, absent };
  }

  private async learn(unknown: Set<string>): Promise<void> {
    const what = `${this.table.source}: events carry column(s) ${[...unknown].join(', ')} that the mirror does not know (the monolith's schema changed)`;
    if (!this.refresh) throw new CdcError('STR_ERR_CDC_SCHEMA_CHANGED', `${what}; start the projection again to read its schema`, { retriable: true, context: { source: this.table.source, columns: [...unknown] } });
    const fresh = await this.refresh(this.table);
    const waiting = [...unknown].filter((n) => !fresh.columns.some((c) => c.name === n));
    if (waiting.length > 0) {
      throw new CdcError('STR_ERR_CDC_SCHEMA_CHANGED', `${what}; the schema source does not have ${waiting.join(', ')} yet (its monolith may run an older release): waiting for it`, {
        retriable: true,
        context: { source: this.table.source, columns: waiting },
      });
    }
    for (const c of fresh.columns) {
      if (this.names.has(c.name)) continue;
      // Nullable: the rows already copied have no value for it.
      const column = { ...c, notNull: false };
      if (c.volatileDefault !== undefined) this.onWarning?.(notBackfilled(this.table, c));
      this.table = { ...this.table, columns: [...this.table.columns, column] };
      this.names = new Set([...this.names, c.name]);
      if (c.generated === undefined) this.carried = new Set([...this.carried, c.name]);
      this.pending.set(c.name, column);
    }
  }

  /** Issues what is pending and not yet in the copy's catalog; forgets what a committed transaction already made. */
  private async ensure(trx: Knex.Transaction): Promise<void> {
    const catalog = await copyColumns(trx, this.table.target);
    for (const [name, want] of this.pending) {
      const statements = alterations(this.table.target, want, catalog.get(name), this.table.key.includes(name));
      if (statements.length === 0) this.pending.delete(name); // committed by an earlier transaction: done
      for (const sql of statements) await trx.raw(sql);
    }
  }

  private replace(column: MirrorColumn): void {
    this.table = { ...this.table, columns: this.table.columns.map((c) => (c.name === column.name ? column : c)) };
  }
}

/** The error, with what the mirror knows added to its message (its code and class kept, so it is judged as before). */
function withHint(err: unknown, message: string): unknown {
  if (err instanceof Error) err.message = message;
  return err;
}
