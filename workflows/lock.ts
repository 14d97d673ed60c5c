/**
 * One mutating procedure per cluster. The lock is a child workflow with the fixed id
 * lock/<cluster>: Temporal refuses a second start of a running workflow id, which makes
 * acquiring atomic, and the TERMINATE parent-close policy frees it if the holder dies.
 */
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  condition,
  defineSignal,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { ClusterBusyError, toApplicationFailure } from '../common/errors.js';
import { lockWorkflowId } from '../common/naming.js';
import { temporalOp } from './profiles.js';

export const releaseSignal = defineSignal('release');

/** The lock itself: holds until released, or until its holder closes. */
export async function clusterLock(_input: { cluster: string; holder: string }): Promise<void> {
  let released = false;
  setHandler(releaseSignal, () => void (released = true));
  await condition(() => released);
}

/** Runs fn holding the cluster's lock; a busy cluster fails fast, naming the holder. */
export async function withClusterLock<T>(cluster: string, fn: () => Promise<T>): Promise<T> {
  const holder = workflowInfo().workflowId;
  let lock;
  try {
    lock = await startChild(clusterLock, {
      workflowId: lockWorkflowId(cluster),
      args: [{ cluster, holder }],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
      // Cancelling the holder must not cancel the lock under it: the holder's cleanup still
      // runs inside the lock, and then releases it.
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      memo: { holder },
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const { lockHolder } = proxyActivities<Activities>(temporalOp);
    const running = await lockHolder({ cluster });
    throw toApplicationFailure(new ClusterBusyError(cluster, running ?? 'another workflow'));
  }
  try {
    return await fn();
  } finally {
    // If the lock is already gone (terminated by hand), there is nothing to release.
    await CancellationScope.nonCancellable(() => lock.signal(releaseSignal)).catch(() => undefined);
  }
}
