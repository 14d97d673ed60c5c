/**
 * One writer per directory: a restore holds its destination's lock, a child workflow with the
 * id restore-dest/<host>:<canonical path>, from before it touches the directory until it has
 * finished or cleaned up. Temporal refuses a second start of a running workflow id, so two
 * restores into one directory can never both write; the second fails before touching anything.
 */
import { CancellationScope, ChildWorkflowCancellationType, ParentClosePolicy, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { DestinationBusyError, toApplicationFailure } from '../common/errors.js';
import { destinationLockId } from '../common/naming.js';
import { clusterLock, releaseSignal } from './lock.js';
import { temporalOp } from './profiles.js';

/** Runs fn holding the lock of a restore destination; a busy destination fails fast, naming the holder. */
export async function withDestinationLock<T>(cluster: string, host: string, canonicalDir: string, fn: () => Promise<T>): Promise<T> {
  const holder = workflowInfo().workflowId;
  const lockId = destinationLockId(host, canonicalDir);
  let lock;
  try {
    // The lock workflow is the cluster lock's: it holds until released or until its holder closes.
    lock = await startChild(clusterLock, {
      workflowId: lockId,
      args: [{ cluster, holder }],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      memo: { holder },
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const { lockHolderOf } = proxyActivities<Activities>(temporalOp);
    const running = await lockHolderOf({ lockId });
    throw toApplicationFailure(new DestinationBusyError(cluster, `${host}:${canonicalDir}`, running ?? 'another restore'));
  }
  try {
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(() => lock.signal(releaseSignal)).catch(() => undefined);
  }
}
