/** The pgdr command tree: every API operation has a command here; main.ts runs it, the completion reads it. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { statusCommand } from './commands/status.js';
import { backupCommands } from './commands/backups.js';
import { copyCommands } from './commands/copies.js';
import { scheduleCommands } from './commands/schedules.js';
import { registerWalCommands } from './commands/wal.js';
import { restoreCommands } from './commands/restores.js';
import { drillCommands } from './commands/drills.js';
import { replicationCommands } from './commands/replication.js';
import { completionCommand } from './completion.js';
import { EXIT_CODES, outputOptions } from './output.js';

/** What Postgres runs: main.ts hands these to archive/main.ts, so no program-wide option applies. */
export const WAL_FILE_COMMANDS: ReadonlySet<string> = new Set(['wal push', 'wal fetch']);
/** Commands that print no API answer, so take no -o. */
export const NO_OUTPUT_OPTION: ReadonlySet<string> = new Set([...WAL_FILE_COMMANDS, 'completion']);

/** --api-url: an http(s) URL without credentials (the token never goes in argv); a trailing / is dropped. */
export function parseApiUrl(value: string): string {
  const expected = 'expected an http or https URL such as http://127.0.0.1:8484';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`${expected}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`${expected} (got ${url.protocol}).`);
  if (url.username || url.password) throw new InvalidArgumentError(`${expected} without a user or password (token: PGDR_API_TOKEN_FILE).`);
  if (url.search || url.hash) throw new InvalidArgumentError(`${expected} without a query or fragment.`);
  return value.replace(/\/+$/, '');
}

/** Words of `text` in lines of at most `width` characters, each after `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + 1 + word.length <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines.join(`\n${indent}`);
}

export function helpEpilogue(): string {
  return `
Output:
  -o json|table on every command: json prints the API's answer on stdout (with --wait, {started, operation}
  at the end); progress and errors go to stderr.

Environment:
  PGDR_API_URL         the API (--api-url wins over it)
  PGDR_API_TOKEN_FILE  a file holding the API token (the token is never taken from the command line)
  PGDR_API_TOKEN       the API token itself (set only one of the two)
  PGDR_CONFIG          the pgdr.yaml to take the API address and token from when these are not set

Exit codes:
${EXIT_CODES.map((e) => `  ${e.code}  ${wrap(e.meaning, 90, '     ')}`).join('\n')}

Completion:
  source <(pgdr completion bash)      (or zsh, in ~/.zshrc after compinit)`;
}

/** Every command below `cmd`, with its path ('wal push'). */
export function commandsOf(cmd: Command, path = ''): { path: string; cmd: Command }[] {
  return cmd.commands.flatMap((c) => {
    const p = path ? `${path} ${c.name()}` : c.name();
    return [{ path: p, cmd: c }, ...commandsOf(c, p)];
  });
}

/** Whether the command runs something itself (a group such as `schedule` only holds subcommands). */
export function hasAction(cmd: Command): boolean {
  // commander keeps the handler in a private field; a command with subcommands and no handler is a group.
  return !!(cmd as unknown as { _actionHandler?: unknown })._actionHandler;
}

/** The program; usage errors throw a CommanderError (main.ts exits 2) instead of exiting. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('pgdr')
    .description('PostgreSQL backup and disaster recovery on Temporal')
    .version('0.1.0')
    .addOption(new Option('--api-url <url>', 'the pgdr API to talk to (wins over PGDR_API_URL and pgdr.yaml)').argParser(parseApiUrl))
    .addHelpText('after', helpEpilogue())
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(`pgdr: ${message.replace(/^error: /, '')}HINT: pgdr --help\n`) });
  statusCommand(program);
  backupCommands(program);
  copyCommands(program);
  scheduleCommands(program);
  registerWalCommands(program);
  restoreCommands(program);
  drillCommands(program);
  replicationCommands(program);
  completionCommand(program, WAL_FILE_COMMANDS);
  for (const { path, cmd } of commandsOf(program)) {
    if (hasAction(cmd) && !NO_OUTPUT_OPTION.has(path)) for (const o of outputOptions()) cmd.addOption(o);
    const hint = `HINT: pgdr ${path} --help\n`;
    cmd.configureOutput({ outputError: (message, write) => write(`pgdr ${path}: ${message.replace(/^error: /, '')}${hint}`) });
  }
  return program;
}
