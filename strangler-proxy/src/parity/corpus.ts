import fs from 'node:fs';
import { z } from 'zod';
import { ProxyError } from '../errors';

const body = z.union([z.string(), z.object({ base64: z.string() }).strict(), z.null()]);

/** One line of a corpus: a request (and, when captured by the proxy, the monolith's answer). */
export const CorpusEntrySchema = z
  .object({
    method: z.string().regex(/^[A-Z]+$/, 'must be an upper-case HTTP method'),
    path: z.string().regex(/^\//, 'must start with /'),
    headers: z.record(z.string(), z.string()).default({}),
    body: body.default(null),
    tenant: z.string().optional(),
    route: z.string().optional(),
    at: z.string().optional(),
    response: z.object({ status: z.number().int(), headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}), body: body.default(null), ms: z.number().optional() }).optional(),
  })
  .strict();

export type CorpusEntry = z.infer<typeof CorpusEntrySchema>;

export function bodyBuffer(b: CorpusEntry['body']): Buffer | null {
  if (b === null) return null;
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.base64, 'base64');
}

/** A body for a corpus line: UTF-8 text when it is, base64 otherwise. */
export function corpusBody(b: Buffer | null): CorpusEntry['body'] {
  if (b === null || b.length === 0) return null;
  const text = b.toString('utf8');
  return Buffer.from(text, 'utf8').equals(b) ? text : { base64: b.toString('base64') };
}

/** Parses a JSONL corpus; every bad line is reported with its number, and nothing is run when one is bad. */
export function parseCorpus(text: string, source: string): CorpusEntry[] {
  const entries: CorpusEntry[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      // A last line without its newline that is not JSON yet: a capture still being written, not a bad line.
      if (i === lines.length - 1) return;
      problems.push(`line ${i + 1}: not JSON (${(err as Error).message})`);
      return;
    }
    const parsed = CorpusEntrySchema.safeParse(value);
    if (parsed.success) entries.push(parsed.data);
    else for (const issue of parsed.error.issues) problems.push(`line ${i + 1}: ${issue.path.join('.') || '(line)'} ${issue.message}`);
  });
  if (problems.length > 0) {
    throw new ProxyError('STR_ERR_PARITY_CORPUS_INVALID', `${source}: ${problems.length} bad line(s):\n  ${problems.slice(0, 50).join('\n  ')}`, { context: { source, problems: problems.length } });
  }
  return entries;
}

export function readCorpus(file: string): CorpusEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ProxyError('STR_ERR_PARITY_CORPUS_INVALID', `cannot read the corpus ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseCorpus(text, file);
}
