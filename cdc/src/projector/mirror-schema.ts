import type { Knex } from 'knex';
import type { ChangeEvent } from '../events/change-event';
import { CdcError } from '../errors';
import type { MirrorColumn, MirrorTable } from './mirror';

export const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
export const qt = (name: string) => name.split('.').map(q).join('.');

/** The copy's columns as its catalog has them now: name -> NOT NULL. */
async function copyColumns(db: Knex | Knex.Transaction, target: string): Promise<Map<string, boolean>> {
  const { rows } = await db.raw<{ rows: Array<{ name: string; not_null: boolean }> }>(
    'SELECT attname AS name, attnotnull AS not_null FROM pg_attribute WHERE attrelid = to_regclass(?) AND attnum > 0 AND NOT attisdropped',
    [target],
  );
  return new Map(rows.map((r) => [r.name, r.not_null]));
}

/**
 * A copy that exists already meets the spec read at start: columns the
 * monolith added while the service was down are added (nullable: the rows
 * copied before have no value), and columns it dropped stop being required.
 */
export async function reconcileCopy(db: Knex, t: MirrorTable): Promise<void> {
  const present = await copyColumns(db, t.target);
  const keep = new Set(['tenant', ...t.key]);
  for (const c of t.columns) if (!present.has(c.name)) await db.raw(`ALTER TABLE ${qt(t.target)} ADD COLUMN IF NOT EXISTS ${q(c.name)} ${c.type}`);
  for (const [name, notNull] of present) if (notNull && !keep.has(name) && !t.columns.some((c) => c.name === name)) await db.raw(`ALTER TABLE ${qt(t.target)} ALTER COLUMN ${q(name)} DROP NOT NULL`);
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
 *   get NULL, so the copy's column is made nullable.
 * Changes to the copy run inside the projection's transaction; one is taken
 * as done only once a later transaction finds it in the catalog, so a
 * transaction that rolls back leaves nothing assumed.
 */
export class MirrorSchema {
  private names: Set<string>;
  /** DDL issued but not yet seen committed: column name -> what it must look like. */
  private readonly pending = new Map<string, { readonly column: MirrorColumn; readonly nullable: boolean }>();

  constructor(
    public table: MirrorTable,
    private readonly refresh: RefreshSpec | undefined,
  ) {
    this.names = new Set(table.columns.map((c) => c.name));
  }

  /** Brings the spec and the copy in line with what `events` carry; throws a retriable error while it cannot. */
  async follow(events: readonly ChangeEvent[], trx: Knex.Transaction): Promise<void> {
    const { unknown, absent } = this.drift(events);
    if (unknown.size > 0) await this.learn(unknown);
    for (const name of absent) {
      const column = this.table.columns.find((c) => c.name === name)!;
      if (!column.notNull) continue;
      this.replace({ ...column, notNull: false });
      this.pending.set(name, { column: { ...column, notNull: false }, nullable: true });
    }
    if (this.pending.size > 0) await this.ensure(trx);
  }

  /** Columns the events carry that the spec lacks, and spec columns the events no longer carry. */
  private drift(events: readonly ChangeEvent[]): { unknown: Set<string>; absent: Set<string> } {
    const unknown = new Set<string>();
    const absent = new Set<string>();
    for (const e of events) {
      const row = e.after ?? e.before;
      if (!row) continue;
      let known = 0;
      for (const k in row) {
        if (this.names.has(k)) known++;
        else unknown.add(k);
      }
      if (known < this.names.size) for (const n of this.names) if (!(n in row)) absent.add(n);
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
      this.table = { ...this.table, columns: [...this.table.columns, column] };
      this.names = new Set([...this.names, c.name]);
      this.pending.set(c.name, { column, nullable: false });
    }
  }

  /** Issues what is pending and not yet in the copy's catalog; forgets what a committed transaction already made. */
  private async ensure(trx: Knex.Transaction): Promise<void> {
    const catalog = await copyColumns(trx, this.table.target);
    for (const [name, want] of this.pending) {
      const notNull = catalog.get(name);
      if (notNull === false) {
        this.pending.delete(name); // committed by an earlier transaction: done
        continue;
      }
      if (notNull === undefined) await trx.raw(`ALTER TABLE ${qt(this.table.target)} ADD COLUMN IF NOT EXISTS ${q(name)} ${want.column.type}`);
      else await trx.raw(`ALTER TABLE ${qt(this.table.target)} ALTER COLUMN ${q(name)} DROP NOT NULL`);
    }
  }

  private replace(column: MirrorColumn): void {
    this.table = { ...this.table, columns: this.table.columns.map((c) => (c.name === column.name ? column : c)) };
  }
}
