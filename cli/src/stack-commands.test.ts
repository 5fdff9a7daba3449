import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

describe('strangler up | down | status | clean: the stack, from the one CLI', () => {
  it("passes its arguments to the stack's command and exits with its code", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strangler-cli-stack-'));
    try {
      const file = path.join(dir, 'strangler.yaml');
      fs.writeFileSync(file, 'version: 1\nname: cli-pass\ntenants:\n  t1: { monolith: "http://127.0.0.1:9", database: { value: "postgresql://x@127.0.0.1:5/t1" } }\ncapture: { tables: [public.items] }\n');
      const env = { ...process.env, STRANGLER_STATE_DIR: path.join(dir, 'state') };
      const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'cli/src/main.ts'), 'status', '--project', file], { cwd: REPO_ROOT, env });
      expect(r.stdout + r.stderr).toContain(`no stack is running from ${path.join(dir, 'state')}`);
      // A mistake in the file is the stack's to say, with its path, and the exit code comes through.
      fs.writeFileSync(file, 'version: 2\n');
      const bad = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'cli/src/main.ts'), 'up', '--project', file], { cwd: REPO_ROOT, env }).catch((err: { code: number; stdout: string; stderr: string }) => err);
      expect(bad).toMatchObject({ code: expect.any(Number) });
      expect((bad as { code: number }).code).not.toBe(0);
      expect((bad as { stderr: string }).stderr).toMatch(/version/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
