/**
 * Starting procedures from the API: a unique, readable workflow id, the search attributes the
 * Temporal UI filters on, and a UI link. Inputs carry names, never secrets.
 */
import { randomBytes } from 'node:crypto';
import type { Workflow } from '@temporalio/common';
import { WithStartWorkflowOperation, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import { PgdrCluster, PgdrProcedure, WORKFLOW_ID_NONCE_LENGTH, temporalUiUrl, workflowId, type Procedure } from '../domain/naming.js';
import type { Client } from '@temporalio/client';
import type { PgdrConfig } from '../config/schema.js';
import { startedByOf, summaryTarget, workflowSummary, type TargetFacts } from '../domain/summaries.js';

/** What starting a procedure needs: the config and a Temporal client. */
export interface ProcedureDeps {
  config: PgdrConfig;
  temporal: Client;
  /** How long a start waits for the lock verdict before answering with it still pending. */
  lockVerdictWaitMs?: number;
  /** How long a judged start (restore, rebuild, switchover) waits for its workflow's verdict. */
  startVerdictWaitMs?: number;
}
import { ClusterBusyError, type ErrorContext } from '../domain/errors.js';
import { lockHolder } from '../adapters/temporal.js';
import { lockVerdictUpdate, startVerdictUpdate, type LockVerdict, type Refusal, type StartVerdict } from '../workflows/lock.js';

export interface Started<T extends Workflow> {
  handle: WorkflowHandle<T>;
  workflowId: string;
  uiUrl: string;
}

/**
 * How long a mutating start waits for its workflow to try the cluster lock. A worker answers in
 * about a second, a few on a loaded host; past this (no worker polling) the API answers 202 with
 * the lock pending rather than hang, and the run takes or misses the lock once a worker runs it.
 */
export const LOCK_VERDICT_WAIT_MS = 10_000;

/** A new workflow id for a procedure started now; unique even for two starts in one millisecond. */
export function newWorkflowId(procedure: Procedure, cluster: string): string {
  return workflowId(
    procedure,
    cluster,
    new Date(),
    randomBytes(Math.ceil(WORKFLOW_ID_NONCE_LENGTH / 2))
      .toString('hex')
      .slice(0, WORKFLOW_ID_NONCE_LENGTH),
  );
}

function startOptions(
  deps: ProcedureDeps,
  procedure: Procedure,
  cluster: string,
  id: string,
  args: unknown[],
  executionTimeout?: string,
): WorkflowStartOptions {
  return {
    taskQueue: deps.config.temporal.taskQueue,
    workflowId: id,
    args,
    typedSearchAttributes: [
      { key: PgdrCluster, value: cluster },
      { key: PgdrProcedure, value: procedure },
    ],
    ...summaryOf(procedure, cluster, args[0] as TargetFacts | undefined),
    ...(executionTimeout ? { workflowExecutionTimeout: executionTimeout } : {}),
  };
}

/**
 * The Temporal UI's summary of a start. The API has a single bearer token, so "api" is all it
 * knows of its caller unless the input's trigger says more.
 */
function summaryOf(procedure: Procedure, cluster: string, input: TargetFacts | undefined) {
  const startedBy = startedByOf(cluster, input?.trigger, 'api');
  return workflowSummary({ workflow: procedure, cluster, target: summaryTarget(procedure, input), startedBy });
}

const uiUrlOf = (deps: ProcedureDeps, id: string, runId?: string) =>
  temporalUiUrl(deps.config.temporal.uiUrl, deps.config.temporal.namespace, id, runId);

/** Starts a read-only procedure (no cluster lock). */
export async function startProcedure<T extends Workflow>(
  deps: ProcedureDeps,
  procedure: Procedure,
  cluster: string,
  workflow: T,
  args: Parameters<T>,
  opts: { executionTimeout?: string; workflowId?: string } = {},
): Promise<Started<T>> {
  const id = opts.workflowId ?? newWorkflowId(procedure, cluster);
  const handle = await deps.temporal.workflow.start(
    workflow,
    startOptions(deps, procedure, cluster, id, args, opts.executionTimeout) as never,
  );
  return { handle, workflowId: id, uiUrl: uiUrlOf(deps, id, handle.firstExecutionRunId) };
}

/**
 * Starts a procedure that takes the cluster lock, and answers from the lock itself: the start
 * carries lockVerdictUpdate (update-with-start, one atomic request), which the workflow answers
 * once it has tried the lock. Busy throws ClusterBusyError naming the holder (the run then ends
 * completed, refused, not failed). Temporal decides the race, so it holds across API processes.
 */
export async function startLockedProcedure<T extends Workflow>(
  deps: ProcedureDeps,
  procedure: Procedure,
  cluster: string,
  workflow: T,
  args: Parameters<T>,
  opts: { workflowId?: string } = {},
): Promise<Started<T> & { lock: 'held' | 'pending' }> {
  const id = opts.workflowId ?? newWorkflowId(procedure, cluster);
  const operation = new WithStartWorkflowOperation(workflow, {
    ...startOptions(deps, procedure, cluster, id, args),
    workflowIdConflictPolicy: 'FAIL',
  } as never);
  const verdict = deps.temporal.workflow.executeUpdateWithStart(lockVerdictUpdate, { startWorkflowOperation: operation });
  // Past the wait below nobody awaits it any more; its late failure must not go unhandled.
  verdict.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), deps.lockVerdictWaitMs ?? LOCK_VERDICT_WAIT_MS)));
  let answer: LockVerdict | null;
  try {
    answer = await Promise.race([verdict, waited]);
  } finally {
    clearTimeout(timer);
  }
  if (answer && !answer.acquired) throw new ClusterBusyError(cluster, answer.runningWorkflowId);
  if (answer) {
    const handle = (await operation.workflowHandle()) as WorkflowHandle<T>;
    return {
      handle,
      workflowId: id,
      uiUrl: uiUrlOf(deps, id, (handle as { firstExecutionRunId?: string }).firstExecutionRunId),
      lock: 'held',
    };
  }
  // No verdict in time (no worker polling). Temporal commits the start before it waits for the
  // update, but holds the answer to the start until its own wait ends (~20 s): ask directly.
  const handle = deps.temporal.workflow.getHandle<T>(id);
  const d = await handle.describe().catch((err: Error) => (err.name === 'WorkflowNotFoundError' ? null : Promise.reject(err)));
  if (!d) await operation.workflowHandle(); // throws why it did not start
  return { handle, workflowId: id, uiUrl: uiUrlOf(deps, id, d?.runId), lock: 'pending' };
}

/**
 * How long a judged start waits for its workflow to take its locks and judge its preconditions
 * (probes, the archive, pg_waldump on the destination node): as long as the API's own
 * pre-flight was given before the workflow made the verdict itself.
 */
export const START_VERDICT_WAIT_MS = 5 * 60_000;

/**
 * A workflow's refusal, relayed to where it is answered: the pgdr error it stands for (its code,
 * message with hint, and values; the HTTP status follows the code). Not a PgdrError subclass:
 * it has no row of its own in the error table, it carries the row of the error the workflow raised.
 */
export class ProcedureRefusedError extends Error {
  readonly code: string;
  readonly context: ErrorContext;
  readonly nonRetryable = true;
  constructor(refusal: Refusal) {
    super(refusal.message);
    this.code = refusal.code;
    this.context = refusal.context;
    this.name = refusal.type;
  }
}

/**
 * Starts a procedure that judges itself before it changes anything, and answers from that
 * judgement: the start carries startVerdictUpdate (update-with-start, one atomic request), which
 * the workflow answers once it holds its locks and has judged its preconditions. Returns the
 * facts the workflow will act on (what the 202 names); a refusal (busy, or every problem) is
 * thrown as the pgdr error it stands for, and the run has ended without changing anything.
 * No verdict in time (no worker, no node agent): the run is cancelled, before it changed
 * anything, and the start fails saying so.
 */
export async function startJudgedProcedure<T extends Workflow, F>(
  deps: ProcedureDeps,
  procedure: Procedure,
  cluster: string,
  workflow: T,
  args: Parameters<T>,
  opts: { workflowId?: string } = {},
): Promise<Started<T> & { facts: F }> {
  const id = opts.workflowId ?? newWorkflowId(procedure, cluster);
  const operation = new WithStartWorkflowOperation(workflow, {
    ...startOptions(deps, procedure, cluster, id, args),
    workflowIdConflictPolicy: 'FAIL',
  } as never);
  const verdict = deps.temporal.workflow.executeUpdateWithStart(startVerdictUpdate, { startWorkflowOperation: operation }) as Promise<
    StartVerdict<F>
  >;
  verdict.catch(() => undefined);
  const waitMs = deps.startVerdictWaitMs ?? START_VERDICT_WAIT_MS;
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), waitMs)));
  let answer: StartVerdict<F> | null;
  try {
    answer = await Promise.race([verdict, waited]);
  } finally {
    clearTimeout(timer);
  }
  if (!answer) {
    const handle = deps.temporal.workflow.getHandle(id);
    await handle.cancel().catch(() => undefined);
    throw new Error(
      `${procedure} ${id} gave no verdict within ${Math.round(waitMs / 1000)} s (locks and preconditions not judged); it was cancelled before changing anything\nHINT: is a pgdr worker polling task queue "${deps.config.temporal.taskQueue}", and the node agents?`,
    );
  }
  // The refused run has ended; its id lets the caller find the judgement in the Temporal UI.
  if (!answer.ok) throw new ProcedureRefusedError({ ...answer.refusal, context: { ...answer.refusal.context, workflowId: id } });
  const handle = (await operation.workflowHandle()) as WorkflowHandle<T>;
  return {
    handle,
    workflowId: id,
    uiUrl: uiUrlOf(deps, id, (handle as { firstExecutionRunId?: string }).firstExecutionRunId),
    facts: answer.facts,
  };
}

/** Refuses early (409) when another mutating procedure holds the cluster's lock; starts nothing. */
export async function ensureNotBusy(deps: ProcedureDeps, cluster: string): Promise<void> {
  const holder = await lockHolder(deps.temporal, cluster);
  if (holder) throw new ClusterBusyError(cluster, holder);
}
