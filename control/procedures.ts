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
}
import { ClusterBusyError } from '../domain/errors.js';
import { lockHolder } from '../adapters/temporal.js';
import { lockVerdictUpdate, type LockVerdict } from '../workflows/lock.js';

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
  return workflowId(procedure, cluster, new Date(), randomBytes(Math.ceil(WORKFLOW_ID_NONCE_LENGTH / 2)).toString('hex').slice(0, WORKFLOW_ID_NONCE_LENGTH));
}

function startOptions(deps: ProcedureDeps, procedure: Procedure, cluster: string, id: string, args: unknown[], executionTimeout?: string): WorkflowStartOptions {
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

const uiUrlOf = (deps: ProcedureDeps, id: string, runId?: string) => temporalUiUrl(deps.config.temporal.uiUrl, deps.config.temporal.namespace, id, runId);

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
  const handle = await deps.temporal.workflow.start(workflow, startOptions(deps, procedure, cluster, id, args, opts.executionTimeout) as never);
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
  const operation = new WithStartWorkflowOperation(workflow, { ...startOptions(deps, procedure, cluster, id, args), workflowIdConflictPolicy: 'FAIL' } as never);
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
    return { handle, workflowId: id, uiUrl: uiUrlOf(deps, id, (handle as { firstExecutionRunId?: string }).firstExecutionRunId), lock: 'held' };
  }
  // No verdict in time (no worker polling). Temporal commits the start before it waits for the
  // update, but holds the answer to the start until its own wait ends (~20 s): ask directly.
  const handle = deps.temporal.workflow.getHandle<T>(id);
  const d = await handle.describe().catch((err: Error) => (err.name === 'WorkflowNotFoundError' ? null : Promise.reject(err)));
  if (!d) await operation.workflowHandle(); // throws why it did not start
  return { handle, workflowId: id, uiUrl: uiUrlOf(deps, id, d?.runId), lock: 'pending' };
}

/** Refuses early (409) when another mutating procedure holds the cluster's lock; starts nothing. */
export async function ensureNotBusy(deps: ProcedureDeps, cluster: string): Promise<void> {
  const holder = await lockHolder(deps.temporal, cluster);
  if (holder) throw new ClusterBusyError(cluster, holder);
}
