/** The `herald` command line. Errors print one line naming what is wrong and set exit code 1. */
import { Command } from 'commander';
import { API_VERSION } from '../version.js';
import { HeraldError } from '../core/errors.js';
import { registerAdminCommands } from './admin.js';
import { registerBatchCommands } from './batch.js';
import { registerDomainCommands } from './domains.js';
import { registerServe } from './serve.js';

const program = new Command()
  .name('herald')
  .description('Herald: self-hosted email delivery (HTTP API, SMTP relay, durable queue, delivery engine)')
  .version(API_VERSION);

registerServe(program);
registerAdminCommands(program);
registerBatchCommands(program);
registerDomainCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof HeraldError) {
    console.error(`herald: ${error.message}`);
  } else {
    console.error(`herald: ${(error as Error).stack ?? String(error)}`);
  }
  process.exitCode = 1;
}
