import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const SOURCES = ['common', 'stack', 'migrations', 'cdc', 'ownership', 'backsync', 'project', 'strangler-proxy', 'observability', 'contracts', 'cli', 'extracted'];

function files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : files(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

describe('docs/errors.md', () => {
  it('documents every STR_ERR_ code the sources raise', () => {
    const doc = fs.readFileSync(path.join(ROOT, 'docs', 'errors.md'), 'utf8');
    const used = new Set(SOURCES.flatMap((s) => files(path.join(ROOT, s, 'src'))).flatMap((f) => fs.readFileSync(f, 'utf8').match(/STR_ERR_[A-Z0-9_]+/g) ?? []));
    const missing = [...used].filter((code) => !doc.includes(`\`${code}\``)).sort();
    expect(missing).toEqual([]);
  });
});
