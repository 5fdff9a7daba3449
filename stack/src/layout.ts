import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StackConfig } from './config';

/** True when every existing folder from / down to `dir` lets other users through (o+x). */
function othersCanReach(dir: string): boolean {
  let current = path.resolve(dir);
  for (;;) {
    try {
      if ((fs.statSync(current).mode & 0o001) === 0) return false;
    } catch {
      /* not created yet: mkdir will make it 0755 */
    }
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/**
 * As root, PostgreSQL runs as a dedicated user, which must reach its data
 * folder. When the state folder sits under a private folder (a clone in
 * /root, say), the data folder goes to the temp folder instead, named after
 * the state folder so each stack keeps its own.
 */
function postgresHome(stateDir: string): string {
  if (process.getuid?.() !== 0 || othersCanReach(stateDir)) return path.join(stateDir, 'postgres');
  const id = crypto.createHash('sha256').update(stateDir).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `strangler-pg-${id}`);
}

/** Where every file of a running stack lives, derived from the config alone. */
export interface StackLayout {
  readonly stateDir: string;
  readonly stateFile: string;
  readonly logsDir: string;
  readonly postgresDir: string;
  readonly postgresData: string;
  readonly kafkaDir: string;
  readonly kafkaData: string;
  readonly connectDir: string;
  readonly libDir: string;
  readonly pluginDir: string;
  readonly runtimeMarker: string;
  log(name: string): string;
}

export function stackLayout(config: StackConfig): StackLayout {
  const { stateDir, cacheDir } = config;
  const logsDir = path.join(stateDir, 'logs');
  const postgresDir = postgresHome(stateDir);
  return Object.freeze({
    stateDir,
    stateFile: path.join(stateDir, 'stack.json'),
    logsDir,
    postgresDir,
    postgresData: path.join(postgresDir, 'data'),
    kafkaDir: path.join(stateDir, 'kafka'),
    kafkaData: path.join(stateDir, 'kafka', 'data'),
    connectDir: path.join(stateDir, 'connect'),
    libDir: path.join(cacheDir, 'lib'),
    pluginDir: path.join(cacheDir, 'connect-plugins'),
    runtimeMarker: path.join(cacheDir, 'runtime.json'),
    log: (name: string) => path.join(logsDir, `${name}.log`),
  });
}
