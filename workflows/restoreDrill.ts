/**
 * restoreDrill: proves the backups restore. The newest good backup (and, by default, the oldest
 * one no drill has proven within the proof window: domain/drillCoverage.ts) is restored by a child pitrRestore into a scratch instance on the drill
 * node, promoted at a recent point, checked (verification, data checksums, pg_amcheck, the
 * user's SQL assertions, row counts of the largest tables), measured (RTO by phase, RPO), and
 * always torn down, even on failure or cancellation. The report goes to S3; a failed check
 * fails the workflow (red in the Temporal UI), naming the check with actual and expected.
 */
import { CancellationScope, defineQuery, executeChild, isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { DrillFailedError, toApplicationFailure } from '../domain/errors.js';
import { describeFailure, type DrillReport, type DrillRestore } from '../domain/drill.js';
import { drillPicks, type DrillRole } from '../domain/drillCoverage.js';
import { type RestorableBackup, type RestoreReport } from '../domain/restore.js';
import { PgdrCluster, PgdrProcedure, drillDirs, drillRestoreWorkflowId, restoreId } from '../domain/naming.js';
import { longTool, nodeTask, storageOp } from './profiles.js';
import { childSummary, showSteps } from './uiDetails.js';
import { probeNodes, rootMessage, type NodeAgent } from './probe.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import { pitrRestore } from './pitrRestore.js';
import { resolveRepository } from './restorePlan.js';
import type { Repository, RepositoryChoice } from '../config/repositories.js';
import { unlessRefused } from './lock.js';

export interface RestoreDrillInput {
  cluster: string;
  nodes: NodeAgent[];
  /** The node whose host runs the scratch instance, and its agent's queue. */
  drillNode: string;
  drillQueue: string;
  /** Parent directory of the scratch data directories. */
  restoreDir: string;
  target: 'latest' | 'immediate';
  /** Also restore the oldest good backup not proven within proofWindowDays. */
  includeOlderBackup: boolean;
  /** Absent in histories from before drill coverage (the older backup was then chosen at random). */
  proofWindowDays?: number;
  recoveryTimeoutSeconds: number;
  trigger: string;
  /** The repository to drill from (absent: the primary); auto reads the secondary when the primary storage is unreachable. */
  repository?: RepositoryChoice;
}

export const drillProgressQuery = defineQuery<{ step: string; restore: number; of: number }>('progress');

export async function restoreDrill(input: RestoreDrillInput): Promise<DrillReport> {
  const info = workflowInfo();
  const id = restoreId(info.startTime);
  const t0 = Date.now();
  const progress = { step: 'choosing backups', restore: 0, of: 0 };
  showSteps(progress);
  setHandler(drillProgressQuery, () => progress);
  // The repository drilled: what it proves are that repository's copies, and its report is stored there.
  const { repository, note } = await resolveRepository(input.repository);
  const { walContinuity, storeDrillReport, drillProofs } = controlActivities(storageOp, repository);

  // 1. The newest good backup, and the oldest one no drill has proven within the proof window.
  const facts = await walContinuity({ cluster: input.cluster, timeline: null, segmentBytes: null });
  const good = facts.backups;
  let picks: { backup: RestorableBackup; role: DrillRole }[];
  const coverage = patched('drill-coverage');
  if (coverage) {
    const proofWindowDays = input.proofWindowDays ?? 31;
    const proofs = input.includeOlderBackup && good.length > 1 ? await drillProofs({ cluster: input.cluster, proofWindowDays }) : [];
    picks = drillPicks(good, proofs, new Date(), { proofWindowDays, withOlder: input.includeOlderBackup });
  } else {
    // Histories from before drill coverage: one random older backup.
    picks = good.length > 0 ? [{ backup: good.at(-1)!, role: 'newest' }] : [];
    if (input.includeOlderBackup && good.length > 1)
      picks.push({ backup: good[Math.floor(Math.random() * (good.length - 1))]!, role: 'older' });
  }
  progress.of = picks.length;

  // The source's primary, for row counts (a drill works without it).
  const primary = (await probeNodes(input.cluster, input.nodes)).find((p) => p.probe?.role === 'primary')?.node.name ?? null;

  const restores: DrillRestore[] = [];
  for (const [i, pick] of picks.entries()) {
    progress.restore = i + 1;
    restores.push(await drillOne(input, id, i, pick, primary, i === 0 ? t0 : Date.now(), progress, coverage, repository));
  }

  const failures =
    picks.length === 0
      ? ['no good backup to drill']
      : restores.flatMap((r) => [
          ...(r.error ? [`restore of backup ${r.backupId} failed: ${r.error}`] : []),
          ...r.checks.filter((c) => !c.ok && c.severity === 'error').map((c) => describeFailure(c, r.backupId)),
        ]);
  const report: DrillReport = {
    formatVersion: 1,
    id,
    cluster: input.cluster,
    workflowId: info.workflowId,
    trigger: input.trigger,
    target: input.target,
    node: input.drillNode,
    ok: failures.length === 0,
    failures,
    restores,
    rtoSeconds: restores[0]?.rtoSeconds ?? null,
    rpoSeconds: restores[0]?.rpoSeconds ?? null,
    startedAt: info.startTime.toISOString(),
    finishedAt: new Date().toISOString(),
    ...(repository === 'secondary' ? { repository } : {}),
    ...(note ? { notes: [note] } : {}),
  };
  progress.step = 'storing the report';
  await storeDrillReport({ report });
  progress.step = report.ok ? 'done' : 'failed';
  if (!report.ok) throw toApplicationFailure(new DrillFailedError(input.cluster, failures));
  return report;
}

async function drillOne(
  input: RestoreDrillInput,
  drillId: string,
  index: number,
  pick: { backup: RestorableBackup; role: DrillRole },
  primary: string | null,
  started: number,
  progress: { step: string },
  coverage: boolean,
  repository: Repository,
): Promise<DrillRestore> {
  // An older backup is proven at its own consistency point: its objects, its WAL from start to
  // end, data checksums and pg_amcheck, without replaying everything since (the newest backup's
  // restore and the WAL check prove the chain). The user's assertions and row counts describe
  // today's data (a table the backup predates would fail them): they run on the newest only.
  const atOwnPoint = coverage && pick.role === 'older';
  const target = atOwnPoint || input.target === 'immediate' ? { immediate: true as const } : { latest: true as const };
  const node = nodeActivities(input.drillNode, input.drillQueue, nodeTask);
  const tool = nodeActivities(input.drillNode, input.drillQueue, longTool);
  const { dataDir, socketDir } = drillDirs(input.restoreDir, input.cluster, drillId, index);
  const out: DrillRestore = {
    backupId: pick.backup.id,
    method: pick.backup.method,
    role: pick.role,
    restore: null,
    checks: [],
    rtoSeconds: null,
    rpoSeconds: null,
    lastCommitTime: null,
    checksSeconds: null,
    error: null,
    teardown: null,
  };
  try {
    // 2. Restore into a scratch instance through the PITR machinery (a child: its own run in the UI).
    progress.step = `restoring backup ${pick.backup.id} into ${dataDir}`;
    let restore: RestoreReport;
    try {
      restore = unlessRefused(
        await executeChild(pitrRestore, {
          workflowId: drillRestoreWorkflowId(input.cluster, drillId, index),
          args: [
            {
              request: {
                cluster: input.cluster,
                target,
                destination: { node: input.drillNode, dataDir, port: 0 },
                action: 'promote',
                backupId: pick.backup.id,
                inclusive: true,
                replaceExisting: false,
                ...(repository !== 'primary' ? { repository } : {}),
              },
              destinationQueue: input.drillQueue,
              recoveryTimeoutSeconds: input.recoveryTimeoutSeconds,
              autoPort: true,
              privateSocketDir: socketDir,
              nodes: input.nodes,
              trigger: `drill:${drillId}`,
            },
          ],
          typedSearchAttributes: [
            { key: PgdrCluster, value: input.cluster },
            { key: PgdrProcedure, value: 'pitrRestore' },
          ],
          ...childSummary('pitrRestore', input.cluster, {
            request: {
              target,
              destination: { node: input.drillNode, dataDir },
            },
          }),
        }),
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      out.error = rootMessage(err);
      out.checks.push({
        name: 'restore and verification',
        kind: 'verification',
        ok: false,
        severity: 'error',
        actual: out.error,
        expected: 'the backup restores, verifies and recovers to the target',
      });
      return out;
    }
    out.restore = restore;
    out.checks.push({
      name: restore.verification.tool,
      kind: 'verification',
      ok: restore.verification.ok,
      severity: 'error',
      actual: restore.verification.detail,
      expected: 'valid',
    });

    // 3. The checks, as the copy's superuser through its private socket.
    progress.step = `checking the restored copy of ${pick.backup.id}`;
    const checked = await tool.runDrillChecks({
      port: restore.destination.port,
      socketDir,
      sourceNode: primary,
      ...(atOwnPoint ? { integrityOnly: true } : {}),
    });
    out.checks.push(...checked.checks);
    out.checksSeconds = Math.round(checked.seconds * 100) / 100;

    // 4. RTO: drill start to a consistent instance that passed its checks; RPO: now against the newest commit recovered.
    const now = Date.now();
    out.rtoSeconds = Math.round((now - started) / 10) / 100;
    out.lastCommitTime = restore.stop.lastCommitTime;
    out.rpoSeconds =
      restore.stop.lastCommitTime && !atOwnPoint ? Math.round((now - Date.parse(restore.stop.lastCommitTime)) / 10) / 100 : null;
    return out;
  } finally {
    // 5. Always tear down. A restore that finished left its instance running: stop it and remove
    //    its directory and socket. One that did not finish undid its own work (pitrRestore's
    //    cleanup); the drill only confirms the directory is gone and never deletes what it did
    //    not see restored (the directory might have been someone else's).
    progress.step = `tearing down ${dataDir}`;
    out.teardown = await CancellationScope.nonCancellable(async () => {
      if (out.restore) {
        await node.cleanupRestore({ dataDir, createdDir: true, oldDataDir: null, restartOld: false, privateSocketDir: socketDir });
      }
      const after = await node.inspectDestination({ dataDir, port: 1 });
      return { removed: after.state === 'absent' };
    });
  }
}
