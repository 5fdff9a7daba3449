/**
 * The JSON Schema of a column's value in a decoded change event, from its
 * PostgreSQL type as the catalog spells it (format_type) and the encoding
 * the toolkit's connectors use (cdc/src/connector-config.ts): decimals as
 * exact strings, times as ISO strings, intervals as strings, bytea as
 * base64, json and jsonb as their JSON, hstore as a JSON object, 64-bit
 * integers exact (`format: int64`: past 2^53 a reader must not use a double).
 */
export type JsonSchema = Record<string, unknown>;

export const ENCODING = Object.freeze({
  'decimal.handling.mode': 'string',
  'time.precision.mode': 'isostring',
  'interval.handling.mode': 'string',
  'binary.handling.mode': 'bytes (base64 in JSON)',
  'hstore.handling.mode': 'json',
});

const INT_RANGES: Record<string, [number, number, string | undefined]> = {
  smallint: [-32768, 32767, 'int16'],
  integer: [-2147483648, 2147483647, 'int32'],
};

export function columnSchema(pgType: string, nullable: boolean): JsonSchema {
  const s = baseSchema(pgType);
  return nullable ? { anyOf: [s, { type: 'null' }] } : s;
}

function baseSchema(t: string): JsonSchema {
  const type = t.trim();
  if (type.endsWith('[]')) return { type: 'array', items: baseSchema(type.slice(0, -2)), 'x-pg-type': type };
  const lower = type.toLowerCase();
  const range = INT_RANGES[lower];
  if (range) return { type: 'integer', minimum: range[0], maximum: range[1], format: range[2], 'x-pg-type': type };
  if (lower === 'bigint') return { type: 'integer', format: 'int64', 'x-pg-type': type };
  const numeric = /^numeric(?:\((\d+)(?:,(\d+))?\))?$/.exec(lower);
  if (numeric) {
    return { type: 'string', pattern: '^-?\\d+(\\.\\d+)?$|^NaN$', 'x-decimal': { precision: numeric[1] ? Number(numeric[1]) : null, scale: numeric[2] ? Number(numeric[2]) : numeric[1] ? 0 : null }, 'x-pg-type': type };
  }
  if (lower === 'real' || lower === 'double precision') return { type: 'number', 'x-pg-type': type };
  if (lower === 'boolean') return { type: 'boolean', 'x-pg-type': type };
  if (lower === 'uuid') return { type: 'string', format: 'uuid', 'x-pg-type': type };
  if (lower === 'date') return { type: 'string', format: 'date', 'x-pg-type': type };
  if (lower === 'timestamp with time zone') return { type: 'string', format: 'date-time', 'x-pg-type': type };
  // A timestamp without zone is a wall-clock time: ISO text without an offset.
  if (/^timestamp(\(\d\))? without time zone$/.test(lower) || lower === 'timestamp') return { type: 'string', format: 'date-time', 'x-timezone': 'none', 'x-pg-type': type };
  if (/^timestamp\(\d\) with time zone$/.test(lower)) return { type: 'string', format: 'date-time', 'x-pg-type': type };
  if (/^time/.test(lower)) return { type: 'string', format: 'time', 'x-pg-type': type };
  if (lower === 'interval' || lower.startsWith('interval')) return { type: 'string', 'x-pg-type': type };
  if (lower === 'json' || lower === 'jsonb') return { 'x-pg-type': type };
  if (lower === 'bytea') return { type: 'string', contentEncoding: 'base64', 'x-pg-type': type };
  const varchar = /^(?:character varying|character|varchar|char)\((\d+)\)$/.exec(lower);
  if (varchar) return { type: 'string', maxLength: Number(varchar[1]), 'x-pg-type': type };
  return { type: 'string', 'x-pg-type': type };
}

/**
 * Whether a column retyped from `from` to `to` can still be read by a
 * consumer written for `from`: the same representation and every old value
 * fits (smallint to integer to bigint, varchar(n) to varchar(m >= n) or
 * text, numeric(p, s) to one with no fewer integer and fraction digits).
 * Anything else (narrower, another representation) breaks it.
 */
export function widens(from: string, to: string): boolean {
  const a = from.toLowerCase();
  const b = to.toLowerCase();
  if (a === b) return true;
  const ints = ['smallint', 'integer', 'bigint'];
  if (ints.includes(a) && ints.includes(b)) return ints.indexOf(b) >= ints.indexOf(a);
  const len = (x: string) => /^(?:character varying|varchar)\((\d+)\)$/.exec(x)?.[1];
  if (len(a) !== undefined && (b === 'text' || b === 'character varying')) return true;
  if (len(a) !== undefined && len(b) !== undefined) return Number(len(b)) >= Number(len(a));
  if ((a === 'character varying' || a === 'text') && (b === 'text' || b === 'character varying')) return true;
  const num = (x: string) => /^numeric(?:\((\d+)(?:,(\d+))?\))?$/.exec(x);
  const na = num(a);
  const nb = num(b);
  if (na && nb) {
    if (!nb[1]) return true; // unconstrained numeric takes any
    if (!na[1]) return false;
    const [pa, sa, pb, sb] = [Number(na[1]), Number(na[2] ?? 0), Number(nb[1]), Number(nb[2] ?? 0)];
    return sb >= sa && pb - sb >= pa - sa;
  }
  // An integer becoming a numeric changes the representation (a number, then a decimal string): it breaks.
  return false;
}
