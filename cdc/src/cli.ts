/** `npm run cdc -- status | register ...`: the same commands as `strangler cdc`. */
import { Command, CommanderError } from 'commander';
import { isStranglerError } from '@strangler/common';
import { addCdcSubcommands } from './cli/cdc-commands';

const program = new Command('npm run cdc --').description("each tenant's Debezium connector and slot, and every projection's lag").exitOverride();
addCdcSubcommands(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode; // commander printed it
    return;
  }
  console.error(isStranglerError(err) ? `cdc: ${err.message} [${err.code}]` : `cdc: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
