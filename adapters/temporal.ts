/** Activities that ask the Temporal service itself (through a client the worker owns). */
import type { Client } from '@temporalio/client';
import { lockWorkflowId } from '../domain/naming.js';

/** The workflow id holding a cluster's lock, or null when it is free. */
export async function lockHolder(client: Client, cluster: string): Promise<string | null> {
  return holderOf(client, lockWorkflowId(cluster));
}

/** The workflow id holding the lock workflow `lockId` (cluster or destination lock), or null when it is free. */
export async function holderOf(client: Client, lockId: string): Promise<string | null> {
  return holderOfLatest(client, lockId, false);
}

/**
 * Who beat a run that just failed to take lock `lockId`: the holder of the lock's latest run,
 * even when that run has closed since (a quick winner can finish before the loser asks).
 * Null only when the lock has never run.
 */
export async function lastHolderOf(client: Client, lockId: string): Promise<string | null> {
  return holderOfLatest(client, lockId, true);
}

async function holderOfLatest(client: Client, lockId: string, closedToo: boolean): Promise<string | null> {
  try {
    const d = await client.workflow.getHandle(lockId).describe();
    if (!closedToo && d.status.name !== 'RUNNING') return null;
    return (d.memo?.holder as string | undefined) ?? d.parentExecution?.workflowId ?? null;
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return null;
    throw err;
  }
}
