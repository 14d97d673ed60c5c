/**
 * What the CLI prints and how it exits: the output modes (-o json|table) and the exit codes,
 * each declared once here; --help, the README table and the completion script derive from them.
 */
import { Option, type Command } from 'commander';
import { apiTarget, type ApiTarget } from './client.js';
import { printable, printableJson } from './format.js';
import type { Operation } from './progress.js';
import { errorRowOfCode } from '../domain/errors.js';

export const OUTPUT_FORMATS = ['table', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The exit codes, by meaning. */
export const EXIT = { ok: 0, refused: 1, usage: 2, couldNotAsk: 3, failed: 4, warnings: 5 } as const;

/** Every exit code with its meaning: printed by `pgdr --help` and given in the README. */
export const EXIT_CODES: readonly { code: number; meaning: string }[] = [
  { code: EXIT.ok, meaning: 'done' },
  {
    code: EXIT.refused,
    meaning:
      'refused: the API said no (4xx: bad field, unknown cluster, busy, failed precondition), ' +
      'its reply was not JSON, or a started procedure lost the cluster lock',
  },
  { code: EXIT.usage, meaning: 'usage error: unknown command or option, missing or invalid argument; nothing was asked' },
  {
    code: EXIT.couldNotAsk,
    meaning: 'could not ask: no API configured, token file missing, unreadable or empty, API unreachable or failing (5xx)',
  },
  {
    code: EXIT.failed,
    meaning: 'the procedure ran and failed, was cancelled or rolled back (--wait); WAL archive unhealthy (wal status, wal check)',
  },
  { code: EXIT.warnings, meaning: 'done, with warnings (status: lag, archiver failures)' },
];

/** Thrown when the command line is wrong in a way commander does not check itself: exit 2. */
export class UsageError extends Error {}

/** -o/--output, and --json kept as its old spelling; added to every command that prints an answer. */
export function outputOptions(): Option[] {
  return [
    new Option('-o, --output <format>', "json: the API's answer as JSON on stdout (with --wait: {started, operation}); table: for people")
      .choices(OUTPUT_FORMATS)
      .default('table'),
    new Option('--json', 'same as -o json').hideHelp(),
  ];
}

export function formatOf(cmd: Command): OutputFormat {
  const o = cmd.opts<{ output?: OutputFormat; json?: boolean }>();
  if (o.json && cmd.getOptionValueSource('output') === 'cli' && o.output !== 'json') {
    throw new UsageError(`--json and -o ${o.output} disagree: expected one output format`);
  }
  return o.json ? 'json' : (o.output ?? 'table');
}

/** One run of a command: its output mode and (asked for only when needed) the API it talks to. */
export interface Invocation {
  format: OutputFormat;
  target(): ApiTarget;
  /** Prints the answer: as JSON in json mode, else as render() has it. */
  print(value: unknown, render: () => string): void;
}

export function invocation(cmd: Command): Invocation {
  const format = formatOf(cmd);
  const { apiUrl } = cmd.optsWithGlobals<{ apiUrl?: string }>();
  let target: ApiTarget | undefined;
  return {
    format,
    target: () => (target ??= apiTarget(process.env, { apiUrl })),
    print: (value, render) => console.log(format === 'json' ? printableJson(value) : render()),
  };
}

/** How an operation that was followed to its end exits: refused when it lost the cluster lock after its start. */
export function operationExit(op: Operation): number {
  if (op.status !== 'COMPLETED') return refusedByPrecondition(op) ? EXIT.refused : EXIT.failed;
  const result = op.result as { refused?: unknown; code?: unknown } | undefined;
  return result?.code === 'CLUSTER_BUSY' && typeof result.refused === 'string' ? EXIT.refused : EXIT.ok;
}

/**
 * A run that ended failed with a refusal from its precondition step (the start verdict: busy,
 * 412, 422): its code is one the API answers with a 4xx. Nothing ran, so it is a refusal (1),
 * not a failure (4).
 */
function refusedByPrecondition(op: Operation): boolean {
  if (op.status !== 'FAILED') return false;
  const code = (Array.isArray(op.failure?.details) ? (op.failure.details[0] as { code?: unknown } | undefined)?.code : undefined) ?? null;
  const http = typeof code === 'string' ? errorRowOfCode(code)?.http : null;
  return typeof http === 'number' && http >= 400 && http < 500;
}

/**
 * Prints how an operation ended and sets the exit code (0 completed, 1 refused, 4 failed). In json
 * mode stdout gets `json` (the start and the operation); a refusal or failure is told on stderr in both modes.
 */
export function finish(op: Operation, render: (result: unknown) => string, format: OutputFormat = 'table', json?: unknown): void {
  const code = operationExit(op);
  if (format === 'json') console.log(printableJson(json ?? op));
  if (code === EXIT.refused) {
    const why = op.status === 'COMPLETED' ? String((op.result as { refused: string }).refused) : (op.failure?.message ?? '');
    console.error(`pgdr: ${op.workflowId} refused: ${printable(why, { keepNewlines: true })}\n  ${op.uiUrl}`);
  } else if (code === EXIT.failed) {
    const why = printable(op.failure?.message ?? '', { keepNewlines: true });
    console.error(`pgdr: ${op.workflowId} ${op.status.toLowerCase()}: ${why}\n  ${op.uiUrl}`);
  } else if (format === 'table') {
    console.log(render(op.result));
  }
  if (code !== EXIT.ok) process.exitCode = code;
}
