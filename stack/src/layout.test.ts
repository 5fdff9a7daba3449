import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadStackConfig } from './config';
import { stackLayout } from './layout';

describe('stackLayout', () => {
  it('keeps the PostgreSQL data inside a state folder other users can reach', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layout-open-'));
    fs.chmodSync(dir, 0o755);
    const layout = stackLayout(loadStackConfig({ stateDir: path.join(dir, 'state') }, {}));
    expect(layout.postgresData).toBe(path.join(dir, 'state', 'postgres', 'data'));
    expect(layout.log('kafka')).toBe(path.join(dir, 'state', 'logs', 'kafka.log'));
    fs.rmSync(dir, { recursive: true });
  });

  it('as root, moves the PostgreSQL data out of a private folder the PostgreSQL user cannot reach', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layout-private-'));
    fs.chmodSync(dir, 0o700);
    const a = stackLayout(loadStackConfig({ stateDir: path.join(dir, 'state') }, {}));
    const b = stackLayout(loadStackConfig({ stateDir: path.join(dir, 'other') }, {}));
    if (process.getuid?.() === 0) {
      expect(a.postgresData).toMatch(new RegExp(`^${os.tmpdir()}/strangler-pg-[0-9a-f]{12}/data$`));
      expect(a.postgresData).not.toBe(b.postgresData);
    } else {
      // Not root: PostgreSQL runs as this user, who reaches the folder anyway.
      expect(a.postgresData).toBe(path.join(dir, 'state', 'postgres', 'data'));
    }
    fs.rmSync(dir, { recursive: true });
  });
});
