import path from 'node:path';
import type { StackConfig } from './config';

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
  return Object.freeze({
    stateDir,
    stateFile: path.join(stateDir, 'stack.json'),
    logsDir,
    postgresDir: path.join(stateDir, 'postgres'),
    postgresData: path.join(stateDir, 'postgres', 'data'),
    kafkaDir: path.join(stateDir, 'kafka'),
    kafkaData: path.join(stateDir, 'kafka', 'data'),
    connectDir: path.join(stateDir, 'connect'),
    libDir: path.join(cacheDir, 'lib'),
    pluginDir: path.join(cacheDir, 'connect-plugins'),
    runtimeMarker: path.join(cacheDir, 'runtime.json'),
    log: (name: string) => path.join(logsDir, `${name}.log`),
  });
}
