import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { isStranglerError } from '@strangler/common';
import { registerBackSyncCommands } from '@strangler/backsync';
import { registerCdcCommands, registerDlqCommands, registerReplayCommand } from '@strangler/cdc';
import { messagingProjection, PROJECTION } from '@strangler/messaging';
import { registerContractsCommands } from '@strangler/contracts';
import { registerOwnCommands, registerParityCommands, registerProgressCommand, registerRoutesCommands, registerServeCommand } from '@strangler/proxy';
import { registerStackCommands } from './stack-commands';
import { cdcProjectView, dataParityTarget, dlqProjectView, projectConsumers, projectReplayables, registerProjectCommands } from '@strangler/project';

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The `strangler` command. Each package registers its own subcommands; this file only gathers them. */
export function buildProgram(): Command {
  const program = new Command('strangler').description('take a monolith apart by the strangler-fig pattern').exitOverride();
  registerProjectCommands(program);
  registerStackCommands(program, REPO_ROOT);
  registerServeCommand(program);
  registerRoutesCommands(program, REPO_ROOT);
  registerCdcCommands(program, cdcProjectView);
  registerDlqCommands(program, dlqProjectView);
  registerParityCommands(program, REPO_ROOT, dataParityTarget);
  registerBackSyncCommands(program);
  registerOwnCommands(program, REPO_ROOT);
  registerProgressCommand(program, REPO_ROOT);
  registerContractsCommands(program, REPO_ROOT, projectConsumers);
  const stackPg = process.env.STRANGLER_PG_URL ?? `postgresql://postgres@127.0.0.1:${process.env.STRANGLER_PG_PORT ?? 54329}/postgres`;
  const dbOf = (name: string) => stackPg.replace(/\/[^/]*$/, `/${name}`);
  registerReplayCommand(program, {
    [PROJECTION]: {
      description: "the messaging service's mirror of every tenant's users, rooms, members and messages",
      defaultDatabaseUrl: dbOf('extracted_messaging'),
      build: ({ tenants }) => messagingProjection(dbOf(`monolith_${tenants[0]}`), tenants),
      sourceUrl: (tenant) => dbOf(`monolith_${tenant}`),
    },
  }, projectReplayables);
  return program;
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    // Commander has printed its own parse errors already.
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (isStranglerError(err)) {
      console.error(`strangler: ${err.message} [${err.code}]`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

if (require.main === module || process.argv[1]?.endsWith('strangler.cjs')) void main();
