import fs from 'node:fs';
import path from 'node:path';
import { MIRRORED, PROJECTION } from './projection';

/**
 * The service's projection declares what it reads in contracts/consumers
 * (what `strangler contracts check` judges a migration against): the file
 * must say what the code does. A mirror copies every column of its tables.
 */
describe("the messaging service's consumer declaration", () => {
  it('names every table the mirror copies, all columns, and its consumer group', () => {
    const file = path.resolve(__dirname, '..', '..', '..', 'contracts', 'consumers', `${PROJECTION}.json`);
    const declared = JSON.parse(fs.readFileSync(file, 'utf8')) as { name: string; kind: string; reads: Record<string, unknown>; group: string };
    expect(declared).toMatchObject({ name: PROJECTION, kind: 'mirror', group: `strangler-projection-${PROJECTION}` });
    expect(declared.reads).toEqual(Object.fromEntries(MIRRORED.map((t) => [t.source, '*'])));
  });
});
