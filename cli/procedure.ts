/**
 * The shape every command that starts a procedure shares: ask the API to start it, say so, and
 * with --wait follow its progress (on stderr) and print how it ended.
 */
import type { ApiTarget } from './client.js';
import { finish, type Invocation } from './output.js';
import { printableJson } from './format.js';
import { follow, type Operation } from './progress.js';

/** What the API answers (202) when it has started a procedure. */
export interface Started {
  workflowId: string;
  uiUrl: string;
}

export interface ProcedureView<S extends Started> {
  start(target: ApiTarget): Promise<S>;
  /** The table mode's line once it has started. */
  started(s: S): string;
  /** The table mode's rendering of the result of a completed run. */
  result(r: unknown): string;
  wait: boolean;
  intervalMs?: number;
  /** More to show when the run did not complete (the WAL check's stored report): merged into the JSON, printed in table mode. */
  onFailure?(target: ApiTarget, s: S, op: Operation): Promise<{ json: Record<string, unknown>; table: string } | undefined>;
}

/**
 * Starts the procedure. json mode prints the 202 answer, or with --wait one document
 * `{started, operation}` at the end (operation: status, result or failure); table mode prints lines as it goes.
 */
export async function runProcedure<S extends Started>(inv: Invocation, view: ProcedureView<S>): Promise<void> {
  const target = inv.target();
  const started = await view.start(target);
  if (inv.format === 'table') console.log(view.started(started));
  if (!view.wait) {
    if (inv.format === 'json') console.log(printableJson(started));
    return;
  }
  const op = await follow(target, started.workflowId, view.intervalMs === undefined ? {} : { intervalMs: view.intervalMs });
  const more = op.status !== 'COMPLETED' && view.onFailure ? await view.onFailure(target, started, op) : undefined;
  if (more && inv.format === 'table') console.log(more.table);
  finish(op, view.result, inv.format, { started, operation: op, ...more?.json });
}
