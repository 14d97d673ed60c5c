/** pgdr: the command-line face of the pgdr API. Every API operation has a command here. */
import { Command } from 'commander';
import { ApiError, NonJsonReplyError } from './client.js';
import { printable } from './format.js';
import { statusCommand } from './commands/status.js';
import { backupCommands } from './commands/backups.js';
import { scheduleCommands } from './commands/schedules.js';
import { registerWalCommands } from './commands/wal.js';
import { restoreCommands } from './commands/restores.js';
import { drillCommands } from './commands/drills.js';
import { replicationCommands } from './commands/replication.js';
import { runWal } from '../archive/main.js';

const program = new Command();
program.name('pgdr').description('PostgreSQL backup and disaster recovery on Temporal').version('0.1.0');
statusCommand(program);
backupCommands(program);
scheduleCommands(program);
registerWalCommands(program);
restoreCommands(program);
drillCommands(program);
replicationCommands(program);

const [, , first, second] = process.argv;
if (first === 'wal' && (second === 'push' || second === 'fetch')) {
  // What Postgres runs (bin/pgdr normally takes the bundled shortcut to the same code).
  void runWal(process.argv.slice(3)).then((code) => process.exit(code));
} else {
  program.parseAsync(process.argv).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    // Messages may carry values the server echoed: printed with control characters escaped.
    console.error(`pgdr: ${printable(message, { keepNewlines: true })}`);
    process.exitCode = (err instanceof ApiError && err.status < 500) || err instanceof NonJsonReplyError ? 1 : 3;
  });
}
