import type { Knex } from 'knex';
import type { ChangeEvent, Row } from '../events/change-event';

/**
 * A projection: the topics it reads and what it does with their events.
 * `apply` gets the events of one topic partition, in stream order, inside a
 * transaction the runtime opened; the runtime stores its checkpoint in the
 * same transaction, so the effect is exactly-once.
 */
export interface Projection<T extends Row = Row> {
  readonly name: string;
  /** Topic names, or one pattern (every tenant's table topics). */
  readonly topics: readonly string[] | RegExp;
  /** Creates what the projection writes to; idempotent; called once at start. */
  setup?(db: Knex): Promise<void>;
  apply(events: readonly ChangeEvent<T>[], trx: Knex.Transaction): Promise<void>;
  /**
   * How to rebuild this projection beside the live one (replay --rebuild):
   * the tables it owns, by schema-qualified name, and the same projection
   * writing into another schema under another name.
   */
  readonly rebuild?: {
    readonly tables: readonly string[];
    into(schema: string): Projection<T>;
  };
}

/** Throw this from `apply` when a retry cannot help (bad data): the event goes to the dead-letter topic. */
export class PoisonEventError extends Error {
  readonly retriable = false;
}
