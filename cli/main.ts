/** pgdr: the command-line face of the pgdr API. Every API operation has a command here (cli/program.ts). */
import { CommanderError } from 'commander';
import { ApiError, NonJsonReplyError } from './client.js';
import { printable, printableJson } from './format.js';
import { EXIT, formatOf, UsageError } from './output.js';
import { buildProgram } from './program.js';

/** The exit code for an error that ended a command (see EXIT_CODES). */
function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return ['commander.helpDisplayed', 'commander.version'].includes(err.code) ? err.exitCode : EXIT.usage;
  if (err instanceof UsageError) return EXIT.usage;
  if ((err instanceof ApiError && err.status < 500) || err instanceof NonJsonReplyError) return EXIT.refused;
  return EXIT.couldNotAsk;
}

const [, , first, second] = process.argv;
if (first === 'wal' && (second === 'push' || second === 'fetch')) {
  // What Postgres runs (bin/pgdr normally takes the bundled shortcut to the same code). Loaded
  // only here: the S3 client it brings would slow every other command's start.
  void import('../archive/main.js').then(({ runWal }) => runWal(process.argv.slice(3))).then((code) => process.exit(code));
} else {
  const program = buildProgram();
  let json = false;
  program.hook('preAction', (_program, action) => {
    json = formatOf(action) === 'json';
  });
  program.parseAsync(process.argv).catch((err: unknown) => {
    // commander has printed its own usage errors and the help already.
    if (!(err instanceof CommanderError)) {
      // In json mode the API's refusal is the answer: its body goes to stdout for scripts.
      if (json && err instanceof ApiError && err.body) console.log(printableJson(err.body));
      const message = err instanceof Error ? err.message : String(err);
      // Messages may carry values the server echoed: printed with control characters escaped.
      console.error(`pgdr: ${printable(message, { keepNewlines: true })}`);
    }
    process.exitCode = exitCodeOf(err);
  });
}
