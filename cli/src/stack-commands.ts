import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Command } from 'commander';

/**
 * `strangler up | down | status | clean [--project FILE]`: the stack's own
 * commands (stack/src/cli.ts, what `npm start` and `npm run stack` run),
 * reached from the one CLI. The stack runs as a child with this terminal:
 * Ctrl-C reaches it directly and it stops everything it started; this
 * process only waits and exits with its code.
 */
export function registerStackCommands(program: Command, repoRoot: string): void {
  const stackCli = path.join(repoRoot, 'stack', 'src', 'cli.ts');
  const verbs: ReadonlyArray<[string, string]> = [
    ['up', 'start what the demo (no file) or a project file needs: Kafka, Kafka Connect with Debezium, the connectors, the proxy, the services and mirrors; runs until Ctrl-C'],
    ['down', 'stop a stack started here (the demo, or --project FILE)'],
    ['status', "a stack's processes, and each connector's and task's state"],
    ['clean', "remove a stopped stack's state (Kafka's data included)"],
  ];
  for (const [verb, description] of verbs) {
    program
      .command(verb)
      .description(`${description} (options: npm run stack -- ${verb} --help)`)
      .option('--project <file>', 'a project file (strangler.yaml)')
      .allowUnknownOption()
      .allowExcessArguments()
      .helpOption(false)
      .action(async (_opts: unknown, cmd: Command) => {
        const args = [verb, ...cmd.parent!.args.slice(cmd.parent!.args.indexOf(verb) + 1)];
        const code = await new Promise<number>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', stackCli, ...args], { stdio: 'inherit', cwd: repoRoot });
          // The terminal sends Ctrl-C to the child as well: it stops itself; this process waits for it.
          const ignore = () => {};
          process.on('SIGINT', ignore);
          process.on('SIGTERM', () => child.kill('SIGTERM'));
          child.once('exit', (c, signal) => {
            process.off('SIGINT', ignore);
            resolve(c ?? (signal === 'SIGINT' ? 130 : 1));
          });
        });
        process.exitCode = code;
      });
  }
}
