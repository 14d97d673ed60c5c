/**
 * expireBackups: retention by count and recovery window, WAL pruned consistently, never the
 * newest good backup, never less than retention.minWindow of recoverable history. A dry run
 * reports the plan (with what minWindow holds back) and deletes nothing.
 */
import { patched } from '@temporalio/workflow';
import type { BackupMethod } from '../domain/catalog.js';
import type { RetentionPolicy } from '../domain/retention.js';
import type { LockedPlan } from '../domain/objectLock.js';
import type { TimelineWindow } from '../domain/walCheck.js';
import { withClusterLock, type Refused } from './lock.js';
import { nodeTask, storageOp } from './profiles.js';
import { showSteps } from './uiDetails.js';
import { probeNodes, type NodeAgent } from './probe.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import { NoPrimaryError, toApplicationFailure } from '../domain/errors.js';

export interface ExpireInput {
  cluster: string;
  method: BackupMethod;
  dryRun: boolean;
  retention: RetentionPolicy;
  /** The cluster's nodes: the pgbackrest method expires sets through the primary's agent. */
  nodes?: NodeAgent[];
}

export interface ExpireResult {
  dryRun: boolean;
  /** With locks in use, also each backup's retain-until and what a lock holds back. */
  plan: LockedPlan;
  /** WAL objects before the cutoff: to delete (dry run) or deleted. */
  walObjects: number;
  walBytes: number;
  deletedBackups: string[];
  /** The stored recovery window as retention left it (null: nothing expired, or no check stored yet). */
  recoveryWindow?: TimelineWindow[] | null;
}

export async function expireBackups(input: ExpireInput): Promise<ExpireResult | Refused> {
  const progress = { step: 'waiting for the cluster lock' };
  showSteps(progress);
  return withClusterLock(input.cluster, () => expireInsideLock(input, progress));
}

/**
 * The retention steps; the caller holds the cluster lock (backup calls this after a good backup).
 * progress.step names the step (expireBackups shows it in the UI).
 */
export async function expireInsideLock(input: ExpireInput, progress = { step: '' }): Promise<ExpireResult> {
  const { planExpiry, applyExpiry } = controlActivities(storageOp);
  // 1. Plan from the catalog in S3.
  progress.step = 'planning from the catalog';
  const planned = await planExpiry({ cluster: input.cluster, retention: input.retention });
  if (input.dryRun) progress.step = 'done (dry run)';
  if (input.dryRun)
    return { dryRun: true, plan: planned.plan, walObjects: planned.walObjects, walBytes: planned.walBytes, deletedBackups: [] };
  // 2. Delete: each backup's manifest first (so it stops counting), then its objects, then old WAL.
  progress.step = `deleting ${planned.plan.expire.length} backup(s) and the WAL before them`;
  const applied = await applyExpiry({
    cluster: input.cluster,
    expire: planned.plan.expire.map((e) => e.id),
    walCutoff: planned.plan.walCutoff,
  });
  // 3. pgBackRest keeps the data in its own repo: expire each set there too, once it stopped counting.
  //    The labels come from the plan (in history), so a retry after the manifests went still has them.
  if (input.method === 'pgbackrest' && planned.pgbackrestLabels.length > 0) {
    progress.step = `pgbackrest expire of ${planned.pgbackrestLabels.length} set(s) through the primary`;
    const primary = (await probeNodes(input.cluster, input.nodes ?? [])).find((p) => p.probe?.role === 'primary');
    if (!primary)
      throw toApplicationFailure(
        new NoPrimaryError(input.cluster, 'needed to expire pgBackRest sets ' + planned.pgbackrestLabels.join(', ')),
      );
    const { pgbackrestExpireSet } = nodeActivities(primary.node.name, primary.node.taskQueue, nodeTask);
    for (const label of planned.pgbackrestLabels) await pgbackrestExpireSet({ label });
  }
  // 4. The stored recovery window (API, metrics) must not keep advertising a start that just went.
  let recoveryWindow: TimelineWindow[] | null = null;
  if (planned.plan.expire.length > 0 && patched('expire-refreshes-window')) {
    const { refreshRecoveryWindow } = controlActivities(storageOp);
    recoveryWindow = await refreshRecoveryWindow({ cluster: input.cluster, at: new Date().toISOString() });
  }
  progress.step = 'done';
  return {
    dryRun: false,
    plan: planned.plan,
    walObjects: applied.walObjects,
    walBytes: applied.walBytes,
    deletedBackups: applied.deletedBackups,
    recoveryWindow,
  };
}
