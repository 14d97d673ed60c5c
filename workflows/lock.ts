/**
 * One mutating procedure per cluster. The lock is a child workflow with the fixed id
 * lock/<cluster>: Temporal refuses a second start of a running workflow id, which makes
 * acquiring atomic, and the TERMINATE parent-close policy frees it if the holder dies.
 *
 * The API starts a mutating procedure with update-with-start of lockVerdictUpdate and answers
 * from the verdict (202 held, 409 busy), so two racing requests cannot both get a 202 however
 * many API processes run. A run whose caller asked for the verdict and lost ends completed with
 * a Refused outcome: its caller already answered 409, so the run is not a failure. A run nobody
 * asked (a schedule, a direct start) still fails with ClusterBusyError.
 */
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  defineSignal,
  defineUpdate,
  patched,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ClusterBusyError, toApplicationFailure } from '../domain/errors.js';
import { lockWorkflowId } from '../domain/naming.js';
import { temporalOp } from './profiles.js';
import { controlActivities } from './activityProxies.js';

export const releaseSignal = defineSignal('release');

/** What a procedure's start learned about the cluster lock. */
export type LockVerdict = { acquired: true } | { acquired: false; runningWorkflowId: string };

/** Answers once the procedure has tried the cluster lock. */
export const lockVerdictUpdate = defineUpdate<LockVerdict>('lockVerdict');

/** The outcome of a run that lost the lock race after its caller was told so. */
export interface Refused {
  /** "busy with <workflow id>" */
  refused: string;
  code: 'CLUSTER_BUSY';
  cluster: string;
  runningWorkflowId: string;
}

export function isRefused(x: unknown): x is Refused {
  return typeof x === 'object' && x !== null && (x as Refused).code === 'CLUSTER_BUSY' && typeof (x as Refused).refused === 'string';
}

/** The result of a run that was not refused; a refusal becomes the ClusterBusyError it stands for. */
export function unlessRefused<T>(result: T | Refused): T {
  if (isRefused(result)) throw toApplicationFailure(new ClusterBusyError(result.cluster, result.runningWorkflowId));
  return result;
}

/** The lock itself: holds until released, or until its holder closes. */
export async function clusterLock(_input: { cluster: string; holder: string }): Promise<void> {
  let released = false;
  setHandler(releaseSignal, () => void (released = true));
  await condition(() => released);
}

/**
 * Runs fn holding the cluster's lock; a busy cluster fails fast, naming the holder, or, when a
 * caller asked lockVerdictUpdate, returns Refused once the caller has the verdict.
 */
export async function withClusterLock<T>(cluster: string, fn: () => Promise<T>): Promise<T | Refused> {
  // Registered before the first await: update-with-start delivers the update in the first task.
  let verdict: LockVerdict | undefined;
  let asked = false;
  setHandler(lockVerdictUpdate, async () => {
    asked = true;
    await condition(() => verdict !== undefined);
    return verdict!;
  });
  const lock = await takeLock(lockWorkflowId(cluster), cluster);
  if (!lock) {
    const { lockHolder } = controlActivities(temporalOp);
    const running = (await lockHolder({ cluster })) ?? 'another workflow';
    verdict = { acquired: false, runningWorkflowId: running };
    const busy = new ClusterBusyError(cluster, running);
    if (asked && patched('busy-refusal')) {
      // The caller answered 409 from the verdict; wait until it has it, then end without a failure.
      await condition(allHandlersFinished);
      return { refused: `busy with ${running}`, code: 'CLUSTER_BUSY', cluster, runningWorkflowId: running };
    }
    throw toApplicationFailure(busy);
  }
  verdict = { acquired: true };
  return holding(lock, fn);
}

/**
 * Starts the lock workflow `lockId` held by this workflow, or null when another run holds it.
 * Cancelling the holder must not cancel the lock under it (ABANDON): the holder's cleanup still
 * runs inside the lock, and then releases it; TERMINATE frees it if the holder dies.
 */
export async function takeLock(lockId: string, cluster: string): Promise<ChildWorkflowHandle<typeof clusterLock> | null> {
  const holder = workflowInfo().workflowId;
  try {
    return await startChild(clusterLock, {
      workflowId: lockId,
      args: [{ cluster, holder }],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      memo: { holder },
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return null;
    throw err;
  }
}

/** Runs fn, then releases the lock; a lock already gone (terminated by hand) needs nothing. */
export async function holding<T>(lock: ChildWorkflowHandle<typeof clusterLock>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(() => lock.signal(releaseSignal)).catch(() => undefined);
  }
}
