/**
 * pitrRestore: restores a backup into a directory on a node and recovers it to a point in
 * time, an LSN, a restore point, the latest archived commit, or the backup's own end. The
 * pre-flight runs again before anything is touched; recovery must stop exactly at the target
 * or the restore fails, saying where it stopped. Anything unfinished (failure or cancel) is
 * undone: the instance stopped, what the restore created removed, a replaced directory put
 * back. A replaced directory is removed only once the restore is proven.
 */
import { CancellationScope, defineQuery, isCancellation, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { RecoveryTargetMissedError, RestorePreflightError, toApplicationFailure } from '../domain/errors.js';
import { parseLsn } from '../domain/lsn.js';
import { describeTarget, judgeStop, restoreId, type RestoreReport, type RestoreRequest } from '../domain/restore.js';
import { setAsideName } from '../domain/naming.js';
import { restoreMarker } from '../domain/restoredCopy.js';
import { withClusterLock, type Refused } from './lock.js';
import { withDestinationLock } from './destinationLock.js';
import { longTool, nodeTask, storageOp } from './profiles.js';
import { planRestore } from './restorePlan.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import type { NodeRef } from './probe.js';

export interface PitrRestoreInput {
  request: RestoreRequest;
  destinationQueue: string;
  /** Older inputs carried this; the plan decides now (only an in-place restore of a node archives). */
  keepArchiving?: boolean;
  recoveryTimeoutSeconds: number;
  /** pgdr chose the port (the request gave none): a port taken meanwhile may be traded for another. */
  autoPort?: boolean;
  /**
   * A scratch copy (drills): Unix socket in this private directory (0700, the node's OS user)
   * with trust for local connections, so checks can run as the superuser without a password.
   */
  privateSocketDir?: string;
  /** The cluster's nodes: the pre-flight follows the current primary's timeline (absent in older inputs). */
  nodes?: NodeRef[];
  /** Who asked: api, cli, drill. */
  trigger: string;
}

export interface RestoreProgress {
  step: string;
  restoreId: string;
  backupId: string | null;
  destination: RestoreRequest['destination'];
  oldDataDir: string | null;
  replayLsn: string | null;
}

export const restoreProgressQuery = defineQuery<RestoreProgress>('progress');

export async function pitrRestore(input: PitrRestoreInput): Promise<RestoreReport | Refused> {
  const info = workflowInfo();
  const id = restoreId(info.startTime);
  const req = input.request;
  const progress: RestoreProgress = { step: 'pre-flight', restoreId: id, backupId: null, destination: req.destination, oldDataDir: null, replayLsn: null };
  setHandler(restoreProgressQuery, () => progress);
  const run = () => restore(input, id, progress);
  // Replacing a cluster's data directory changes the cluster: one mutating procedure at a time.
  return req.replaceExisting ? withClusterLock(req.cluster, run) : run();
}

async function restore(input: PitrRestoreInput, id: string, progress: RestoreProgress): Promise<RestoreReport> {
  const req = input.request;
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const node = nodeActivities(req.destination.node, input.destinationQueue, nodeTask);
  const tool = nodeActivities(req.destination.node, input.destinationQueue, longTool);
  const { storeRestoreReport } = controlActivities(storageOp);
  const where = { dataDir: req.destination.dataDir };
  const marker = restoreMarker(workflowInfo().workflowId);
  const target = describeTarget(req.target);

  // 1. Pre-flight, again: the archive or the destination may have changed since the API asked.
  // The port is claimed for this restore on the destination's host; one pgdr chose (autoPort)
  // and taken since the API's pre-flight, by a listener or another restore, is chosen again.
  const outcome = await planRestore(req, input.destinationQueue, input.nodes, { claimFor: workflowInfo().workflowId, autoPort: input.autoPort ?? false });
  if (!outcome.plan) throw toApplicationFailure(new RestorePreflightError(req.cluster, outcome.problems));
  const plan = outcome.plan;
  const backup = plan.backup;
  progress.backupId = backup.id;
  // The port the pre-flight found free when the request left it to pgdr (0).
  const destination = { ...req.destination, port: outcome.destination.port };
  progress.destination = destination;
  const preflightSeconds = (Date.now() - t0) / 1000;

  // One writer per directory: the destination's lock is held from here until the restore has
  // finished or cleaned up (older histories ran without it).
  const lockDestination = patched('restore-destination-lock');
  if (lockDestination) progress.step = 'claiming the destination';
  const rest = async (): Promise<RestoreReport> => {
    // From here on, what the restore made is undone unless it is proven.
    let prepared: { oldDataDir: string | null; createdRoot?: string | null } | null = null;
    const createdDir = outcome.destination.state === 'absent' || plan.replacing;
    try {
      // 2. The destination: empty, ours; data there renamed aside (replaceExisting), never deleted.
      progress.step = plan.replacing ? 'stopping and renaming the old data directory aside' : 'preparing the destination';
      prepared = await node.prepareDestination({ ...where, restoreId: id, replacing: plan.replacing, stopFirst: plan.stopFirst });
      progress.oldDataDir = prepared.oldDataDir;

      // 3. Download, check, extract and verify (basebackup), or pgbackrest verify + restore.
      let download = 0;
      let extract = 0;
      let verify = 0;
      let bytes = 0;
      let verification: RestoreReport['verification'];
      if (backup.method === 'pgbackrest') {
        progress.step = 'verifying the backup set (pgbackrest verify)';
        const v = await tool.pgbackrestVerifySet({ label: backup.pgbackrestLabel! });
        verify = v.seconds;
        verification = { tool: v.tool, ok: v.ok, detail: v.detail };
        if (!v.ok) throw toApplicationFailure(new RecoveryTargetMissedError(req.cluster, target, `backup set ${backup.pgbackrestLabel} failed pgbackrest verify: ${v.detail}`));
        progress.step = `pgbackrest restore --set=${backup.pgbackrestLabel}`;
        const r = await tool.pgbackrestRestoreSet({ ...where, label: backup.pgbackrestLabel!, settings: plan.settings, keepArchiving: input.keepArchiving ?? plan.inPlace });
        download = r.seconds;
        bytes = backup.bytes;
      } else {
        const object = backup.objects[0]!;
        progress.step = `downloading and extracting ${object.name}`;
        const got = await tool.fetchBaseBackup({ ...where, backupId: backup.id, objectName: object.name, sha256: object.sha256, compression: backup.compression });
        download = got.downloadSeconds;
        extract = got.extractSeconds;
        bytes = got.bytes;
        progress.step = 'verifying the restored files (pg_verifybackup)';
        const v = await tool.verifyRestoredBackup({ ...where, backupId: backup.id });
        verify = v.seconds;
        verification = { tool: v.tool, ok: v.ok, detail: v.detail };
      }

      // 4. Recovery settings: restore_command, the target, the action; a copy does not archive.
      progress.step = 'writing the recovery settings';
      await node.writeRecoverySettings({ ...where, settings: plan.settings, port: destination.port, keepArchiving: input.keepArchiving ?? plan.inPlace, marker, targetLines: backup.method !== 'pgbackrest', ...(input.privateSocketDir ? { privateSocketDir: input.privateSocketDir } : {}) });

      // 5-6. Start, then follow replay to the target.
      progress.step = 'starting the instance';
      const replayStart = Date.now();
      const started = await node.startRestoredInstance({ ...where, marker, autoPort: input.autoPort ?? false });
      destination.port = started.port;
      progress.step = `replaying WAL to ${target}`;
      const stop = await tool.awaitRecoveryTarget({ ...where, port: destination.port, action: req.action, target, timeoutSeconds: input.recoveryTimeoutSeconds });
      progress.replayLsn = stop.replayLsn;
      // Stopping by LSN right after a commit, Postgres does not report that commit as the last
      // replayed one; the pre-flight read it with pg_waldump, and replay went past it.
      const last = plan.lastCommit;
      if (last && plan.settings.kind === 'lsn' && parseLsn(stop.replayLsn) > parseLsn(last.lsn) && (!stop.lastCommitTime || Date.parse(stop.lastCommitTime) < Date.parse(last.time))) {
        stop.lastCommitTime = last.time;
      }
      const replay = (Date.now() - replayStart) / 1000;

      // 7. Exactly at the target, or a failure that says where recovery stopped.
      progress.step = 'checking where recovery stopped';
      const missed = judgeStop(plan.settings, stop, backup);
      if (missed) throw toApplicationFailure(new RecoveryTargetMissedError(req.cluster, target, missed));

      // 8. Promoted: the target settings must never apply again. The replaced directory can go.
      if (req.action === 'promote') await node.settleRecoverySettings({ ...where, marker });
      let replaced: RestoreReport['replaced'] = null;
      if (prepared.oldDataDir) {
        progress.step = 'removing the replaced data directory';
        const r = await node.removeOldDataDir({ oldDataDir: prepared.oldDataDir });
        replaced = { oldDataDir: prepared.oldDataDir, removed: r.removed };
      }

      // 9. The report: phases in seconds (the achieved RTO), stored in S3.
      progress.step = 'storing the report';
      const report: RestoreReport = {
        formatVersion: 1,
        id,
        cluster: req.cluster,
        workflowId: workflowInfo().workflowId,
        target: req.target,
        inclusive: req.inclusive,
        action: req.action,
        backupId: backup.id,
        method: backup.method,
        destination,
        replaced,
        ...(plan.inPlace
          ? { notes: [`node ${req.destination.node}'s own data directory was restored in place; it keeps archiving, so ${req.action === 'promote' ? 'its new timeline goes into the cluster\'s archive and every standby must be rebuilt from it' : 'once promoted its new timeline goes into the cluster\'s archive'}`] }
          : {}),
        stop,
        timeline: plan.timeline,
        seconds: { preflight: round(preflightSeconds), download: round(download), extract: round(extract), verify: round(verify), replay: round(replay), total: round((Date.now() - t0) / 1000) },
        bytes: { downloaded: bytes, restored: bytes },
        verification,
        startedAt,
        finishedAt: new Date().toISOString(),
      };
      await storeRestoreReport({ report });
      progress.step = 'done';
      return report;
    } catch (err) {
      // 10. Unfinished: stop the instance, remove what this restore made, put the old data back.
      progress.step = isCancellation(err) ? 'cancelled: cleaning up' : 'failed: cleaning up';
      // A copy whose destination was never prepared is not ours: someone may have put data
      // there since the pre-flight (prepareDestination refuses exactly that). Hands off.
      if (!prepared && !plan.replacing) throw err;
      const cleaned = await CancellationScope.nonCancellable(() =>
        node.cleanupRestore({
          ...where,
          createdDir,
          ...(prepared?.createdRoot ? { createdRoot: prepared.createdRoot } : {}),
          ...(input.privateSocketDir ? { privateSocketDir: input.privateSocketDir } : {}),
          oldDataDir: prepared ? prepared.oldDataDir : plan.replacing ? setAsideName(req.destination.dataDir, id) : null,
          restartOld: plan.stopFirst,
          keepLog: true,
        }),
      );
      // The failed attempt's server log outlives its directory.
      if (cleaned.keptLog) {
        progress.step = `${progress.step}; the server log is kept at ${cleaned.keptLog}`;
        log.warn('restore failed; server log kept', { keptLog: cleaned.keptLog, reason: cleaned.logLines });
      }
      throw err;
    }
  };
  return lockDestination ? withDestinationLock(req.cluster, outcome.destination.host, outcome.destination.canonicalDir, rest) : rest();
}

function round(s: number): number {
  return Math.round(s * 100) / 100;
}
