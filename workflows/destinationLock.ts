/**
 * One writer per directory: a restore holds its destination's lock, a child workflow with the
 * id restore-dest/<host>:<canonical path>, from before it touches the directory until it has
 * finished or cleaned up. Temporal refuses a second start of a running workflow id, so two
 * restores into one directory can never both write; the second fails before touching anything.
 */
import { DestinationBusyError, toApplicationFailure } from '../domain/errors.js';
import { destinationLockId } from '../domain/naming.js';
import { holding, takeLock, type VerdictGate } from './lock.js';
import { temporalOp } from './profiles.js';
import { controlActivities } from './activityProxies.js';
import { workflowInfo } from '@temporalio/workflow';

/**
 * Runs fn holding the lock of a restore destination; a busy destination fails fast, naming the
 * holder (answered through the gate first, when one is given).
 */
export async function withDestinationLock<T>(
  cluster: string,
  host: string,
  canonicalDir: string,
  fn: () => Promise<T>,
  gate?: VerdictGate<unknown>,
): Promise<T> {
  const lockId = destinationLockId(host, canonicalDir);
  const lock = await takeLock(lockId, cluster, { kind: 'destinationLock', dir: `${host}:${canonicalDir}` });
  if (!lock) {
    const { lockHolderOf } = controlActivities(temporalOp);
    const running = await lockHolderOf({ lockId });
    const busy = new DestinationBusyError(cluster, `${host}:${canonicalDir}`, running ?? 'another restore');
    if (gate) return gate.refuse(busy);
    throw toApplicationFailure(busy);
  }
  return holding(lock, fn);
}

/**
 * The answer for a restore whose pre-flight refused a destination that holds files or a server:
 * busy (409, naming the holder) when another restore holds the destination's lock right now,
 * since its work is what the pre-flight saw. Two requests at once could otherwise get a 202 and
 * a 422 saying "not empty" (seen under load: the second's pre-flight ran after the first had begun
 * writing). Undefined when the lock is free, is this run's, or cannot be asked: the pre-flight's
 * own refusal stands.
 */
export async function busyDestination(
  cluster: string,
  destination: { host?: string; canonicalDir?: string; state?: string; running?: boolean },
): Promise<DestinationBusyError | undefined> {
  const { host, canonicalDir } = destination;
  if (!host || !canonicalDir) return undefined;
  if (!destination.running && (destination.state === 'absent' || destination.state === 'empty')) return undefined;
  const { runningLockHolderOf } = controlActivities(temporalOp);
  const holder = await runningLockHolderOf({ lockId: destinationLockId(host, canonicalDir) }).catch(() => null);
  if (!holder || holder === workflowInfo().workflowId) return undefined;
  return new DestinationBusyError(cluster, `${host}:${canonicalDir}`, holder);
}
