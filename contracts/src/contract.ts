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
  /** JSON Schema of the event's key and of a row in its `before` and `after` (the decoded change event). */
  readonly keySchema: JsonSchema;
  readonly rowSchema: JsonSchema;
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
export function schemasOf(shape: Shape): { keySchema: JsonSchema; rowSchema: JsonSchema } {
  const prop = (c: ContractColumn) => [c.name, columnSchema(c.type, c.nullable)] as const;
  const byName = new Map(shape.columns.map((c) => [c.name, c]));
  return {
    keySchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: Object.fromEntries(shape.key.map((k) => prop(byName.get(k) ?? { name: k, type: 'text', nullable: false, hasDefault: false }))),
      required: [...shape.key],
      additionalProperties: false,
    },
    rowSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: Object.fromEntries(shape.columns.map(prop)),
      // Every column is present in a row (an unchanged TOASTed value arrives as a marker the decoder turns into "unavailable").
      required: shape.columns.map((c) => c.name),
      additionalProperties: false,
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
