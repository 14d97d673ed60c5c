/**
 * copyBackup: brings the offsite copy (storage.secondary) up to date with the primary. Each
 * good backup the secondary lacks is copied object by object, each object checked on the far
 * side, its copy record and manifest written last; then the WAL from the oldest good backup's
 * start up to the newest archived segment. With verify, the whole copy is re-read. Runs after
 * each good backup and on the copy schedule; it takes no cluster lock (it changes neither the
 * cluster nor the primary), and two runs at once only find each other's objects already there.
 */
import { defineQuery, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CopyReport } from '../domain/copy.js';
import { restoreId } from '../domain/naming.js';
import { longTool, storageCopy, storageOp } from './profiles.js';
import { showSteps } from './uiDetails.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import { unlessRefused, withClusterLock } from './lock.js';
import { probeNodes, type NodeAgent } from './probe.js';
import { backupIntoSecondary, pickSource } from './pgbackrestRepos.js';

export interface CopyBackupInput {
  cluster: string;
  /**
   * pgbackrest method: pgBackRest's repo2 is the secondary. The copy takes a backup into it from
   * the backup source (holding the cluster lock) when the newest good backup has none there.
   */
  pgbackrest?: { nodes: NodeAgent[]; from: 'primary' | 'standby' };
  /** Re-read every object on the secondary and check it (a damaged copy fails the run, naming each object). */
  verify: boolean;
  /** Who asked: api, cli, schedule:<name>, backup:<id>. */
  trigger: string;
}

export interface CopyProgress {
  step: string;
  backupsToCopy: number;
  backupsCopied: number;
  walCopied: number | null;
}

export const copyProgressQuery = defineQuery<CopyProgress>('progress');

export async function copyBackup(input: CopyBackupInput): Promise<CopyReport> {
  const info = workflowInfo();
  const t0 = Date.now();
  const progress: CopyProgress = { step: 'planning the copy', backupsToCopy: 0, backupsCopied: 0, walCopied: null };
  showSteps(progress);
  setHandler(copyProgressQuery, () => progress);
  const { planCopy, storeCopyReport } = controlActivities(storageOp);
  const { copyBackupObjects, copyWalRange, verifySecondary } = controlActivities(storageCopy);

  const plan = await planCopy({ cluster: input.cluster });
  progress.backupsToCopy = plan.backups.length;
  const copied: string[] = [];
  const skipped: CopyReport['backupsSkipped'] = [];
  let bytes = 0;
  let wal: CopyReport['wal'] = { from: plan.walFrom, copied: 0, bytes: 0, newestOnSecondary: null };
  let verified: CopyReport['verified'] = null;
  if (input.pgbackrest) {
    // pgBackRest pushes every WAL segment to both repositories itself; the copy takes the backup.
    const pb = input.pgbackrest;
    for (const id of plan.uncopiable)
      skipped.push({
        id,
        reason: "pgBackRest cannot copy a set between repositories; the secondary's newer backup covers what follows it",
      });
    if (plan.take) {
      const take = plan.take;
      progress.step = `backing up into the secondary repository (pgBackRest repo2), for backup ${take.id}`;
      // Busy (a backup or restore holds the lock): ClusterBusyError, and the next run catches up.
      // A catch-up takes a full: it must not build on a repo2 set that failed before.
      const made = unlessRefused(
        await withClusterLock(input.cluster, async () => {
          const source = pickSource(input.cluster, pb.from, await probeNodes(input.cluster, pb.nodes));
          return backupIntoSecondary(input.cluster, take.id, 'full', true, source);
        }),
      );
      if ('manifest' in made) copied.push(take.id);
      else skipped.push({ id: take.id, reason: made.skipped });
      progress.backupsCopied = copied.length;
    }
    progress.step = 'reading the newest WAL segment on the secondary';
    wal = { ...wal, newestOnSecondary: await controlActivities(storageOp, 'secondary').newestArchivedSegment({ cluster: input.cluster }) };
    if (input.verify) {
      progress.step = 'verifying the secondary repository (pgbackrest verify)';
      // On a node whose agent answers (the first configured one may be a failed host).
      const node = (await probeNodes(input.cluster, pb.nodes)).find((p) => p.probe)?.node ?? pb.nodes[0]!;
      verified = await nodeActivities(node.name, node.taskQueue, longTool, 'secondary').pgbackrestVerifyRepository();
    }
  }
  for (const backupId of input.pgbackrest ? [] : plan.backups) {
    progress.step = `copying backup ${backupId} (${copied.length + skipped.length + 1} of ${plan.backups.length})`;
    const r = await copyBackupObjects({ cluster: input.cluster, backupId, workflowId: info.workflowId });
    bytes += r.bytes;
    if (r.copied) copied.push(backupId);
    else skipped.push({ id: backupId, reason: r.reason ?? 'not copied' });
    progress.backupsCopied = copied.length;
  }
  if (plan.walFrom) {
    progress.step = `copying WAL from ${plan.walFrom}`;
    wal = { from: plan.walFrom, ...(await copyWalRange({ cluster: input.cluster, walFrom: plan.walFrom })) };
    bytes += wal.bytes;
    progress.walCopied = wal.copied;
  }
  if (input.verify && !input.pgbackrest) {
    progress.step = 'verifying every object on the secondary';
    verified = await verifySecondary({ cluster: input.cluster });
  }
  const seconds = (Date.now() - t0) / 1000;
  const report: CopyReport = {
    id: restoreId(info.startTime),
    cluster: input.cluster,
    workflowId: info.workflowId,
    trigger: input.trigger,
    startedAt: info.startTime.toISOString(),
    finishedAt: new Date().toISOString(),
    seconds,
    secondary: plan.secondary,
    backupsCopied: copied,
    backupsOnSecondary: [...plan.onSecondary, ...copied].sort(),
    backupsSkipped: skipped,
    wal,
    bytes,
    mbPerSecond: seconds > 0 ? Math.round((bytes / 1e6 / seconds) * 10) / 10 : 0,
    verified,
  };
  progress.step = 'storing the report';
  await storeCopyReport({ report });
  progress.step = 'done';
  return report;
}
