/**
 * pitrRestore: restores a backup into a directory on a node and recovers it to a point in
 * time, an LSN, a restore point, the latest archived commit, or the backup's own end. The
 * pre-flight (the plan) is made once, here, before anything is touched, and a caller that asked
 * startVerdictUpdate gets the plan or every problem from it; recovery must stop exactly at the target
 * or the restore fails, saying where it stopped. Anything unfinished (failure or cancel) is
 * undone: the instance stopped, what the restore created removed, a replaced directory put
 * back. A replaced directory is removed only once the restore is proven.
 */
import { CancellationScope, defineQuery, isCancellation, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { PgbackrestVerifyFailedError, RecoveryTargetMissedError, RestorePreflightError, toApplicationFailure } from '../domain/errors.js';
import { parseLsn } from '../domain/lsn.js';
import { describeTarget, judgeStop, type RestorePlan, type RestoreReport, type RestoreRequest } from '../domain/restore.js';
import { restoreId, setAsideName } from '../domain/naming.js';
import { restoreMarker } from '../domain/restoredCopy.js';
import { BACKUP_MANIFEST_OBJECT, type TablespaceMapping } from '../domain/tablespaces.js';
import { verdictGate, withClusterLock, type Refused, type VerdictGate } from './lock.js';
import { busyDestination, withDestinationLock } from './destinationLock.js';
import { longTool, nodeTask, storageOp } from './profiles.js';
import { showSteps } from './uiDetails.js';
import { planRestore, resolveRepository, type PlanOutcome } from './restorePlan.js';
import type { NodeAgent } from './probe.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import type { Repository } from '../config/repositories.js';

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
  nodes?: NodeAgent[];
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

/**
 * The start verdict's facts, once the restore holds its destination and has planned: what the
 * API's 202 names is what runs (the port is claimed for this run and never traded when named).
 */
export interface RestoreVerdictFacts {
  restoreId: string;
  backupId: string;
  destination: RestoreRequest['destination'];
  lastArchivedCommit: { lsn: string; time: string } | null;
  timeline: RestorePlan['timeline'];
  /** Absent in verdicts recorded before plans carried notes. */
  notes?: string[];
}

export async function pitrRestore(input: PitrRestoreInput): Promise<RestoreReport | Refused> {
  const info = workflowInfo();
  const id = restoreId(info.startTime);
  const req = input.request;
  const progress: RestoreProgress = {
    step: 'pre-flight',
    restoreId: id,
    backupId: null,
    destination: req.destination,
    oldDataDir: null,
    replayLsn: null,
  };
  showSteps(progress);
  setHandler(restoreProgressQuery, () => progress);
  const gate = verdictGate<RestoreVerdictFacts>();
  const run = () => restore(input, id, progress, gate);
  // Replacing a cluster's data directory changes the cluster: one mutating procedure at a time.
  return req.replaceExisting ? withClusterLock(req.cluster, run, gate) : run();
}

async function restore(
  input: PitrRestoreInput,
  id: string,
  progress: RestoreProgress,
  gate: VerdictGate<RestoreVerdictFacts>,
): Promise<RestoreReport> {
  const req = input.request;
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  // 0. The repository to read: the one asked for; for auto, the primary unless its storage is unreachable.
  //    (Requests from before repositories carry none: the primary, with no activity.)
  let repository: Repository;
  let repositoryNote: string | null;
  try {
    ({ repository, note: repositoryNote } = await resolveRepository(req.repository));
  } catch (err) {
    return gate.refuse(err);
  }
  const node = nodeActivities(req.destination.node, input.destinationQueue, nodeTask, repository);
  const tool = nodeActivities(req.destination.node, input.destinationQueue, longTool, repository);
  const { storeRestoreReport } = controlActivities(storageOp, repository);
  const where = { dataDir: req.destination.dataDir };
  const marker = restoreMarker(workflowInfo().workflowId);
  const target = describeTarget(req.target);

  // 1. Pre-flight: the plan, made once. The port is claimed for this restore on the destination's
  // host. (Older inputs carried a port from the API's own pre-flight; with autoPort one taken
  // since, by a listener or another restore, is chosen again.) A refusal, or a failure before
  // the verdict, is the asking caller's answer (422 with every problem), and nothing was created.
  let outcome: PlanOutcome;
  try {
    outcome = await planRestore(req, input.destinationQueue, input.nodes, {
      claimFor: workflowInfo().workflowId,
      autoPort: input.autoPort ?? false,
      repository,
    });
  } catch (err) {
    return gate.refuse(err);
  }
  if (!outcome.plan) {
    // Another restore writing into the destination right now: that is the answer (409), not
    // what its writing looks like to the pre-flight. Runs without the marker did not ask.
    const busy = patched('preflight-asks-destination-lock') ? await busyDestination(req.cluster, outcome.destination) : undefined;
    return gate.refuse(busy ?? new RestorePreflightError(req.cluster, outcome.problems));
  }
  const plan = outcome.plan;
  if (repositoryNote) plan.notes = [...(plan.notes ?? []), repositoryNote];
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
    // Planned and holding the destination: the caller's 202 names this backup, destination and port.
    gate.pass({
      restoreId: id,
      backupId: backup.id,
      destination: { ...destination },
      lastArchivedCommit: outcome.lastCommit,
      timeline: plan.timeline,
      notes: plan.notes,
    });
    // From here on, what the restore made is undone unless it is proven.
    let prepared: { oldDataDir: string | null; createdRoot?: string | null } | null = null;
    let tablespaceDirs: string[] = [];
    const createdDir = outcome.destination.state === 'absent' || plan.replacing;
    try {
      // 2. The destination: empty, ours; data there renamed aside (replaceExisting), never deleted.
      progress.step = plan.replacing ? 'stopping and renaming the old data directory aside' : 'preparing the destination';
      prepared = await node.prepareDestination({ ...where, restoreId: id, replacing: plan.replacing, stopFirst: plan.stopFirst });
      progress.oldDataDir = prepared.oldDataDir;
      // 2b. The tablespaces' own directories, where the plan maps them (never the originals).
      const spaces = plan.tablespaces ?? [];
      if (spaces.length) {
        progress.step = `preparing ${spaces.length} tablespace director${spaces.length > 1 ? 'ies' : 'y'}`;
        tablespaceDirs = (await node.prepareTablespaceDirs({ dataDir: req.destination.dataDir, dirs: spaces.map((t) => t.to) })).created;
      }

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
        if (!v.ok) throw toApplicationFailure(new PgbackrestVerifyFailedError(req.cluster, backup.pgbackrestLabel!, v.detail));
        progress.step = `pgbackrest restore --set=${backup.pgbackrestLabel}`;
        const r = await tool.pgbackrestRestoreSet({
          ...where,
          label: backup.pgbackrestLabel!,
          settings: plan.settings,
          keepArchiving: input.keepArchiving ?? plan.inPlace,
          ...(spaces.length ? { tablespaces: spaces.map((t) => ({ oid: t.oid, to: t.to })) } : {}),
        });
        download = r.seconds;
        bytes = backup.bytes;
      } else {
        const object = backup.objects[0]!;
        progress.step = `downloading and extracting ${object.name}`;
        const got = await tool.fetchBaseBackup({
          ...where,
          backupId: backup.id,
          objectName: object.name,
          sha256: object.sha256,
          compression: backup.compression,
          ...tablespaceObjects(backup, spaces),
        });
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
      await node.writeRecoverySettings({
        ...where,
        settings: plan.settings,
        port: destination.port,
        keepArchiving: input.keepArchiving ?? plan.inPlace,
        marker,
        targetLines: backup.method !== 'pgbackrest',
        ...(input.privateSocketDir ? { privateSocketDir: input.privateSocketDir } : {}),
        ...(backup.sourceNode ? { sourceNode: backup.sourceNode } : {}),
        ...(prepared.oldDataDir ? { ownConfigFrom: prepared.oldDataDir } : {}),
      });

      // 5-6. Start, then follow replay to the target.
      progress.step = 'starting the instance';
      const replayStart = Date.now();
      // A port named to a caller (the 202) is the port: taken meanwhile, the restore fails
      // (PORT_UNAVAILABLE, cleaned up) rather than run on another. (patched: older runs traded it.)
      const portNamed = gate.asked && patched('restore-port-as-named');
      const started = await node.startRestoredInstance({ ...where, marker, autoPort: (input.autoPort ?? false) && !portNamed });
      destination.port = started.port;
      progress.step = `replaying WAL to ${target}`;
      const stop = await tool.awaitRecoveryTarget({
        ...where,
        port: destination.port,
        action: req.action,
        target,
        timeoutSeconds: input.recoveryTimeoutSeconds,
        ...('xid' in req.target ? { xid: req.target.xid } : {}),
        ...(input.privateSocketDir ? { privateSocketDir: input.privateSocketDir } : {}),
      });
      progress.replayLsn = stop.replayLsn;
      // Stopping by LSN right after a commit, Postgres does not report that commit as the last
      // replayed one; the pre-flight read it with pg_waldump, and replay went past it.
      const last = plan.lastCommit;
      if (
        last &&
        plan.settings.kind === 'lsn' &&
        parseLsn(stop.replayLsn) > parseLsn(last.lsn) &&
        (!stop.lastCommitTime || Date.parse(stop.lastCommitTime) < Date.parse(last.time))
      ) {
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
        ...(repository !== 'primary' ? { repository } : {}),
        destination,
        replaced,
        ...(plan.tablespaces?.length ? { tablespaces: plan.tablespaces } : {}),
        ...(plan.inPlace || plan.notes?.length
          ? {
              notes: [
                ...(plan.notes ?? []),
                ...(plan.inPlace
                  ? [
                      `node ${req.destination.node}'s own data directory was restored in place; it keeps archiving, so ${req.action === 'promote' ? "its new timeline goes into the cluster's archive and every standby must be rebuilt from it" : "once promoted its new timeline goes into the cluster's archive"}`,
                    ]
                  : []),
              ],
            }
          : {}),
        stop,
        timeline: plan.timeline,
        seconds: {
          preflight: round(preflightSeconds),
          download: round(download),
          extract: round(extract),
          verify: round(verify),
          replay: round(replay),
          total: round((Date.now() - t0) / 1000),
        },
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
          ...(tablespaceDirs.length ? { tablespaceDirs } : {}),
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
  return lockDestination
    ? withDestinationLock(req.cluster, outcome.destination.host, outcome.destination.canonicalDir, rest, gate)
    : rest();
}

/** fetchBaseBackup's tablespace fields: each mapped tablespace's archive, and pg_basebackup's backup_manifest. */
function tablespaceObjects(backup: RestorePlan['backup'], spaces: TablespaceMapping[]) {
  if (!backup.tablespaces?.length) return {};
  const manifest = backup.objects.find((o) => o.name === BACKUP_MANIFEST_OBJECT);
  return {
    tablespaces: spaces.map((t) => {
      const object = backup.tablespaces!.find((b) => b.oid === t.oid)!.object!;
      return { oid: t.oid, objectName: object.name, sha256: object.sha256, dir: t.to };
    }),
    ...(manifest ? { manifestObject: { name: manifest.name, sha256: manifest.sha256 } } : {}),
  };
}

function round(s: number): number {
  return Math.round(s * 100) / 100;
}
