import { columnSchema, ENCODING, type JsonSchema } from './json-schema';

/** One column as the contract records it. */
export interface ContractColumn {
  readonly name: string;
  /** PostgreSQL's type, as format_type spells it. */
  readonly type: string;
  readonly nullable: boolean;
  /** Whether the column has a default (a NOT NULL column added without one fails on existing rows and on writers that omit it). */
  readonly hasDefault: boolean;
}

/** A stream's contract: one captured table's change events, as every tenant's topic carries them. */
export interface StreamContract {
  /** `<schema>.<table>` in the monolith database. */
  readonly stream: string;
  /** Each tenant's topic: the tenant (the connector's topic.prefix) in front. */
  readonly topic: string;
  /** Counts the shapes recorded: a snapshot that finds another shape writes the next. */
  readonly version: number;
  readonly producer: string;
  /** The domain that owns the data, when one declares the table (ownership). */
  readonly owner: string | null;
  readonly key: readonly string[];
  readonly columns: readonly ContractColumn[];
  readonly encoding: Readonly<Record<string, string>>;
  /** JSON Schema of the event's key, of a row in its `before` and `after`, and of the whole decoded change event. */
  readonly keySchema: JsonSchema;
  readonly rowSchema: JsonSchema;
  readonly eventSchema: JsonSchema;
  /** What each version changed, newest last. */
  readonly history: ReadonlyArray<{ readonly version: number; readonly at: string; readonly changes: readonly string[] }>;
}

/** The shape of a table, without version or history: what two contracts compare by. */
export interface Shape {
  readonly stream: string;
  readonly key: readonly string[];
  readonly columns: readonly ContractColumn[];
}

/** The JSON Schemas of a shape's key and row. */
export function schemasOf(shape: Shape): { keySchema: JsonSchema; rowSchema: JsonSchema; eventSchema: JsonSchema } {
  const prop = (c: ContractColumn) => [c.name, columnSchema(c.type, c.nullable)] as const;
  const byName = new Map(shape.columns.map((c) => [c.name, c]));
  const row: JsonSchema = {
    type: 'object',
    properties: Object.fromEntries(shape.columns.map(prop)),
    // Every column is present in a row (an unchanged TOASTed value arrives as a marker the decoder turns into "unavailable").
    required: shape.columns.map((c) => c.name),
    additionalProperties: false,
  };
  return {
    keySchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: Object.fromEntries(shape.key.map((k) => prop(byName.get(k) ?? { name: k, type: 'text', nullable: false, hasDefault: false }))),
      required: [...shape.key],
      additionalProperties: false,
    },
    rowSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', ...row },
    // The change event as cdc's decode() gives it: the operation, the row before and after (null where there is none), where it comes from.
    eventSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        op: { enum: ['c', 'u', 'd', 'r', 't'], description: 'create, update, delete, read (snapshot), truncate' },
        before: { anyOf: [{ $ref: '#/$defs/row' }, { type: 'null' }] },
        after: { anyOf: [{ $ref: '#/$defs/row' }, { type: 'null' }] },
        source: {
          type: 'object',
          properties: {
            lsn: { type: ['string', 'null'], description: 'a 64-bit WAL position' },
            commitLsn: { type: ['string', 'null'] },
            txId: { type: ['integer', 'null'] },
            tsMs: { type: 'integer', description: 'commit time in the source, ms since the epoch' },
            snapshot: { type: 'string' },
            db: { type: 'string' },
            schema: { const: shape.stream.split('.')[0] },
            table: { const: shape.stream.split('.')[1] },
            origin: { type: ['string', 'null'] },
          },
          required: ['tsMs', 'schema', 'table'],
        },
      },
      required: ['op', 'before', 'after', 'source'],
      $defs: { row },
    },
  };
}

/** A contract for a shape: the first version, or the next one after `previous` when the shape changed. */
export function contractOf(shape: Shape, producer: string, owner: string | null, previous: StreamContract | null, changes: readonly string[], at: Date): StreamContract {
  const same = previous !== null && changes.length === 0;
  const version = previous === null ? 1 : same ? previous.version : previous.version + 1;
  return {
    stream: shape.stream,
    topic: `{tenant}.${shape.stream}`,
    version,
    producer,
    owner,
    key: [...shape.key],
    columns: shape.columns.map((c) => ({ ...c })),
    encoding: { ...ENCODING },
    ...schemasOf(shape),
    history: previous === null ? [{ version: 1, at: at.toISOString(), changes: ['first recorded'] }] : same ? previous.history : [...previous.history, { version, at: at.toISOString(), changes: [...changes] }],
  };
}
