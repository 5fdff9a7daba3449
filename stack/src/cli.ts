import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ConnectClient, cdcStatus, formatStatus } from '@strangler/cdc';
import { isStranglerError, sleep } from '@strangler/common';
import { loadStackConfig, ENV, REPO_ROOT } from './config';
import { stackLayout } from './layout';
import { isAlive, ManagedProcess } from './process';
import { formatSummary, startStack } from './stack';
import { formatProjectSummary, startProjectStack } from './project-stack';
import { loadProject, projectStateDir, type LoadedProject } from '@strangler/project';
import path from 'node:path';
import { proxyFiles } from './proxy';
import { readState, runningOwner } from './state';
import { runTraffic } from './traffic';

const USAGE = `usage: npm start                   start the demo stack (same as: npm run stack -- up)
       npm run stack -- up        start it; Ctrl-C stops everything it started
       npm start -- --project strangler.yaml
                                  your own app and databases instead (strangler init writes the file): Kafka, Connect,
                                  each tenant's connector, the proxy in front of your app, each declared mirror
       npm run stack -- down      stop a stack running from another terminal
       npm run stack -- status    what runs, where, and each connector's state
       npm run stack -- clean     delete the state folder (databases, topics, logs) to start over
       npm run traffic            drive demo traffic through the running stack's proxy, then replay its captured corpus

options for down, status, clean: --project FILE (a project's stack instead of the demo's)
options for up: --project FILE  --no-monoliths  --no-connectors  --tenants a,b  --traffic (then drive demo traffic, as npm run traffic)
                --observe (also Prometheus with the alert rules, the JMX exporter on Kafka and Connect, the cdc exporter; env STRANGLER_OBSERVE=1)
options for traffic: --seconds N (default 120)  --rate N requests/s (default 25)
environment: ${Object.keys(ENV).join(', ')}`;

function fail(message: string, code = 2): never {
  console.error(`stack: ${message}`);
  process.exit(code);
}

async function up(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { 'no-monoliths': { type: 'boolean' }, 'no-connectors': { type: 'boolean' }, tenants: { type: 'string' }, traffic: { type: 'boolean' }, project: { type: 'string' }, observe: { type: 'boolean' } },
    strict: true,
  });
  // A project file: the team's own app and databases instead of the demo (its own state folder, unless STRANGLER_STATE_DIR says).
  let project: LoadedProject | undefined;
  if (values.project !== undefined) {
    try {
      project = loadProject(values.project);
    } catch (err) {
      fail(`${(err as Error).message}\n(fix the project file, then run again; \`npm run strangler -- project check ${values.project}\` checks it alone)`, 2);
    }
    if (values.traffic || values.tenants || values['no-monoliths'] || values['no-connectors']) fail('--project runs what the project file declares: --tenants, --traffic, --no-monoliths and --no-connectors are for the demo (--observe works with both)', 2);
  }
  const config = loadStackConfig({
    ...(values['no-monoliths'] ? { monoliths: false } : {}),
    ...(values['no-connectors'] ? { connectors: false } : {}),
    ...(values.tenants ? { tenants: values.tenants.split(',').map((t) => t.trim()) } : {}),
    ...(values.observe ? { observe: true } : {}),
    ...(project ? projectState(project) : {}),
  });
  console.log(`strangler ${project ? `project ${project.project.name}` : 'stack'}: starting (state folder ${config.stateDir})`);
  let stack: { stop(): Promise<void> } | undefined;
  // Ctrl-C before ready: the start stops where it has got to (see StartOptions.signal).
  const starting = new AbortController();
  // Every child of this stack alive now, booting or ready (for a kill at once).
  const children = () => ManagedProcess.alive(stackLayout(config).logsDir);
  let signals = 0;
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // Ctrl-C under `npm start` reaches us twice (from the terminal, and relayed by npm and tsx): one press, one stop.
    if (signals > 0 && Date.now() - firstSignalAt < 1500) return;
    if (signals === 0) firstSignalAt = Date.now();
    signals += 1;
    if (signals > 1) {
      // A second Ctrl-C: no more waiting.
      console.log(`\n${signal}: killing every process at once`);
      for (const p of children()) p.killNow();
      process.exit(130);
    }
    if (!stack) {
      console.log(`\n${signal}: stopping the start where it has got to, and what it has started (Ctrl-C again to kill them at once)`);
      starting.abort();
      return;
    }
    console.log(`\n${signal}: stopping every process the stack started (Ctrl-C again to kill them at once)`);
    void stack.stop().then(() => {
      console.log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', () => {
    for (const p of children()) p.killNow();
  });
  let processes: readonly ManagedProcess[];
  try {
    if (project) {
      const running = await startProjectStack(project, config, (line) => console.log(line), { signal: starting.signal });
      stack = running;
      processes = running.processes;
      console.log(`\nready in ${(running.readyMs / 1000).toFixed(1)} s\n${formatProjectSummary(running)}\n\nCtrl-C stops everything (your app and databases are left as they are).`);
    } else {
      const running = await startStack(config, (line) => console.log(line), { signal: starting.signal });
      stack = running;
      processes = running.processes;
      console.log(`\nready in ${(running.readyMs / 1000).toFixed(1)} s\n${formatSummary(running)}\n\nCtrl-C stops everything.`);
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'STR_ERR_STACK_INTERRUPTED') {
      console.log('stopped');
      process.exit(130);
    }
    throw err;
  }
  const started = stack;
  if (values.traffic) void traffic([]).catch((err: unknown) => console.error(`traffic: ${(err as Error).message}`));
  // Keep watching: a child that dies on its own is reported, not silently missed.
  for (;;) {
    await sleep(1000);
    const dead = processes.find((p) => p.deathError());
    if (dead && signals === 0) {
      console.error(`stack: ${dead.deathError()!.message}\nstopping the rest.`);
      await started.stop();
      process.exit(1);
    }
  }
}

async function traffic(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '120' }, rate: { type: 'string', default: '25' } }, strict: true });
  const seconds = Number(values.seconds);
  const rate = Number(values.rate);
  if (!(seconds > 0) || !(rate > 0)) fail('--seconds and --rate must be positive numbers');
  const config = loadStackConfig();
  const layout = stackLayout(config);
  const state = readState(layout);
  if (!state || !isAlive(state.ownerPid)) fail(`no stack is running from ${layout.stateDir}: start it first (npm start)`, 1);
  const files = proxyFiles(layout);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  console.log(`traffic: ${rate} requests/s for ${seconds} s through http://127.0.0.1:${config.ports.proxy} (${config.tenants.join(', ')}); Ctrl-C ends it early`);
  const { passed } = await runTraffic({
    proxyUrl: `http://127.0.0.1:${config.ports.proxy}`,
    adminUrl: `http://127.0.0.1:${config.ports.proxyAdmin}`,
    token: fs.readFileSync(files.token, 'utf8').trim(),
    tenants: config.tenants,
    rate,
    seconds,
    configFile: files.config,
    reportDir: `${files.dir}/parity-report`,
    log: (line) => console.log(line),
    signal: controller.signal,
  });
  if (!passed) process.exitCode = 1;
}

/** A project's own state folder (`.strangler/project-<name>`), unless STRANGLER_STATE_DIR says. */
function projectState(p: LoadedProject): { stateDir?: string } {
  return process.env.STRANGLER_STATE_DIR ? {} : { stateDir: projectStateDir(p) };
}

/** The stack config of `down`, `status` and `clean`: the demo's, or with --project FILE that project's. */
function configOf(args: string[]) {
  const { values } = parseArgs({ args, options: { project: { type: 'string' } }, strict: true });
  if (values.project === undefined) return loadStackConfig();
  let p: LoadedProject;
  try {
    p = loadProject(values.project);
  } catch (err) {
    fail(`${(err as Error).message}\n(the project's state folder is named after its name: fix the file, or pass STRANGLER_STATE_DIR)`, 2);
  }
  return loadStackConfig(projectState(p));
}

async function down(args: string[]): Promise<void> {
  const layout = stackLayout(configOf(args));
  const owner = runningOwner(layout);
  if (!owner) return console.log(`no stack is running from ${layout.stateDir}`);
  process.kill(owner.ownerPid, 'SIGTERM');
  for (let i = 0; i < 600 && isAlive(owner.ownerPid); i++) await sleep(100);
  if (isAlive(owner.ownerPid)) fail(`the stack (pid ${owner.ownerPid}) did not stop within 60 s`, 1);
  console.log('stopped');
}

async function status(args: string[]): Promise<void> {
  const config = configOf(args);
  const layout = stackLayout(config);
  const state = readState(layout);
  if (!state || !isAlive(state.ownerPid)) return console.log(`no stack is running from ${layout.stateDir}`);
  console.log(`stack pid ${state.ownerPid}, started ${state.startedAt}${state.readyAt ? `, ready ${state.readyAt}` : ' (not ready yet)'}`);
  for (const p of state.processes) console.log(`  ${p.name.padEnd(16)} pid ${String(p.pid).padEnd(8)} ${isAlive(p.pid) ? 'running' : 'GONE'}  ${p.logFile}`);
  console.log(`\n${formatStatus(await cdcStatus(new ConnectClient(state.endpoints.connectUrl)))}`);
}

function clean(args: string[]): void {
  const config = configOf(args);
  const layout = stackLayout(config);
  const owner = runningOwner(layout);
  if (owner) fail(`a stack is running from ${layout.stateDir} (pid ${owner.ownerPid}): stop it first (npm run stack -- down)`, 1);
  fs.rmSync(layout.stateDir, { recursive: true, force: true });
  fs.rmSync(layout.postgresDir, { recursive: true, force: true });
  console.log(`removed ${layout.stateDir}${layout.postgresDir.startsWith(layout.stateDir) ? '' : ` and ${layout.postgresDir}`}; the jar cache in ${config.cacheDir} is kept (delete it too to fetch everything again)`);
}

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  switch (command) {
    case 'up':
      return up(rest);
    case 'traffic':
      return traffic(rest);
    case 'down':
      return down(rest);
    case 'status':
      return status(rest);
    case 'clean':
      return clean(rest);
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return;
    default:
      fail(`unknown command "${command}"\n${USAGE}`);
  }
}

main().catch((err: unknown) => {
  if (isStranglerError(err)) fail(`${err.message}\n[${err.code}]`, 1);
  if (err instanceof TypeError && (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') fail(`${err.message}\n${USAGE}`);
  fail((err as Error).stack ?? String(err), 1);
});
