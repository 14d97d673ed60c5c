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
