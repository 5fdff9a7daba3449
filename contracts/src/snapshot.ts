import { compareShapes } from './compare';
import { contractOf, type Shape, type StreamContract } from './contract';
import { listTables, readShapes } from './derive';
import { readContracts, shapeOf, writeContract } from './files';
import { withMigratedScratch, type MigrationSource } from './check';

export interface SnapshotResult {
  readonly written: ReadonlyArray<{ readonly stream: string; readonly version: number; readonly file: string; readonly changes: readonly string[] }>;
  readonly unchanged: readonly string[];
}

/**
 * `strangler contracts snapshot`: each stream's shape read from a database
 * (given, or a scratch one with the migrations applied), written as its
 * contract; a stream whose shape changed gets the next version with what
 * changed in its history, one that did not is left as it is.
 */
export async function snapshotContracts(o: {
  readonly dir: string;
  readonly from: { readonly databaseUrl: string } | { readonly serverUrl: string; readonly migrations: MigrationSource };
  /** Streams to record; default: those already recorded, else every table. */
  readonly streams?: readonly string[];
  readonly producer: string;
  /** Domain owning each stream (e.g. from the proxy's domains). */
  readonly owners?: Readonly<Record<string, string>>;
  readonly now?: Date;
}): Promise<SnapshotResult> {
  const recorded = readContracts(o.dir);
  const read = async (url: string) => {
    const streams = o.streams ?? (recorded.size > 0 ? [...recorded.keys()] : await listTables(url));
    return readShapes(url, streams);
  };
  const shapes = 'databaseUrl' in o.from ? await read(o.from.databaseUrl) : await withMigratedScratch(o.from.serverUrl, o.from.migrations, read);
  const written: Array<{ stream: string; version: number; file: string; changes: string[] }> = [];
  const unchanged: string[] = [];
  for (const [stream, shape] of shapes) {
    const previous = recorded.get(stream) ?? null;
    const changes = previous === null ? [] : compareShapes(new Map([[stream, shapeOf(previous)]]), new Map<string, Shape>([[stream, shape]]), []).map((c) => c.detail);
    const owner = o.owners?.[stream] ?? previous?.owner ?? null;
    if (previous !== null && changes.length === 0 && owner === previous.owner) {
      unchanged.push(stream);
      continue;
    }
    const c: StreamContract = contractOf(shape, o.producer, owner, previous, changes, o.now ?? new Date());
    written.push({ stream, version: c.version, file: writeContract(o.dir, c), changes });
  }
  return { written, unchanged };
}
