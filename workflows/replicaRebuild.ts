/**
 * replicaRebuild: replaces a standby's data with a fresh copy, from the primary
 * (pg_basebackup -X stream on the node's slot) or from the newest good backup, and is done
 * only when the primary shows it streaming with small lag. The old data directory is renamed
 * aside and removed only then; on failure it is put back and the node restarted as it was.
 * Never the primary. Patroni-managed clusters: POST /reinitialize, then the same wait.
 * Judged once, inside the lock, before anything changes: a caller that asked startVerdictUpdate
 * answers 202, 409, 412 or 422 from that judgement.
 */
import type { TablespaceMapping } from '../domain/tablespaces.js';
import { CancellationScope, defineQuery, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { NodeIsPrimaryError, ReplicationPreconditionError } from '../domain/errors.js';
import { judgeRebuild, type RebuildReport, type RebuildSource } from '../domain/replication.js';
import { summarizeCluster } from '../domain/status.js';
import { restoreId, setAsideName } from '../domain/naming.js';
import { verdictGate, withClusterLock, type Refused, type VerdictGate } from './lock.js';
import { awaitControl, longTool, nodeTask, patroniRequest, storageOp } from './profiles.js';
import { showSteps } from './uiDetails.js';
import { probeNodes, type NodeAgent } from './probe.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import { resolveRepository } from './restorePlan.js';
import type { Repository, RepositoryChoice } from '../config/repositories.js';

export interface ReplicaRebuildInput {
  cluster: string;
  node: string;
  source: RebuildSource;
  nodes: NodeAgent[];
  dataDir: string;
  slot: string;
  /** Done once the standby streams with replay lag at or below this. */
  maxLagBytes: number;
  catchUpTimeoutSeconds: number;
  /** Patroni-managed: rebuild through POST /reinitialize. */
  patroni: boolean;
  trigger: string;
  /** source backup: the repository to read it from (absent: the primary). */
  repository?: RepositoryChoice;
}

export interface RebuildProgress {
  step: string;
  node: string;
  primary: string | null;
  oldDataDir: string | null;
  backupId: string | null;
}

export const rebuildProgressQuery = defineQuery<RebuildProgress>('progress');

/** The start verdict's facts, once the rebuild holds the lock and its preconditions hold. */
export interface RebuildVerdictFacts {
  node: string;
  primary: string;
  source: RebuildSource;
  /** The backup it restores (source backup), chosen now. */
  backupId: string | null;
}

export async function replicaRebuild(input: ReplicaRebuildInput): Promise<RebuildReport | Refused> {
  const progress: RebuildProgress = {
    step: 'waiting for the cluster lock',
    node: input.node,
    primary: null,
    oldDataDir: null,
    backupId: null,
  };
  showSteps(progress);
  setHandler(rebuildProgressQuery, () => progress);
  const gate = verdictGate<RebuildVerdictFacts>();
  return withClusterLock(input.cluster, () => rebuild(input, progress, gate), gate);
}

async function rebuild(
  input: ReplicaRebuildInput,
  progress: RebuildProgress,
  gate: VerdictGate<RebuildVerdictFacts>,
): Promise<RebuildReport> {
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const { cluster } = input;
  const queueOf = (n: string) => input.nodes.find((x) => x.name === n)!.taskQueue;
  const { storeRebuildReport } = controlActivities(storageOp);
  const { patroniReinitialize } = controlActivities(patroniRequest);
  const { awaitPatroni } = controlActivities(awaitControl);

  // 1. Judge on fresh probes, inside the lock: never the primary; a primary must exist.
  progress.step = 'probing the cluster';
  let probes: Awaited<ReturnType<typeof probeNodes>>;
  try {
    probes = await probeNodes(cluster, input.nodes);
  } catch (err) {
    return gate.refuse(err);
  }
  const status = summarizeCluster(cluster, probes);
  const verdict = judgeRebuild(status, input.node);
  if (verdict.invalid.length) return gate.refuse(new NodeIsPrimaryError(cluster, input.node, verdict.invalid.join('; ')));
  if (verdict.unmet.length || !verdict.primary) return gate.refuse(new ReplicationPreconditionError(cluster, 'rebuild', verdict.unmet));
  const primary = verdict.primary;
  progress.primary = primary;
  const wasRunning = status.nodes.find((n) => n.node === input.node)?.reachable ?? false;
  const report = (r: Partial<RebuildReport>): RebuildReport => ({
    formatVersion: 1,
    cluster,
    node: input.node,
    workflowId: workflowInfo().workflowId,
    source: input.source,
    primary,
    backupId: null,
    oldDataDir: null,
    oldDataDirRemoved: false,
    lagBytes: null,
    seconds: { clone: 0, catchUp: 0, total: 0 },
    viaPatroni: input.patroni,
    startedAt,
    finishedAt: new Date().toISOString(),
    ...r,
  });

  if (input.patroni) {
    gate.pass({ node: input.node, primary, source: input.source, backupId: null });
    // 2p. Patroni re-clones the member itself (it removes the old data directory first).
    progress.step = `patroni: reinitialize ${input.node}`;
    const reinit = await patroniReinitialize({ cluster, node: input.node });
    progress.step = 'waiting until it streams and catches up';
    const w = await awaitPatroni({
      cluster,
      leader: primary,
      streaming: [input.node],
      maxLagBytes: input.maxLagBytes,
      timeoutSeconds: input.catchUpTimeoutSeconds,
    });
    const r = report({
      lagBytes: w.members.find((m) => m.name === input.node)?.lagBytes ?? null,
      seconds: { clone: round(reinit.seconds), catchUp: round(w.seconds), total: round((Date.now() - t0) / 1000) },
    });
    await storeRebuildReport({ report: r });
    progress.step = 'done';
    return r;
  }

  // A backup is read from the repository asked for (auto: the secondary when the primary storage is unreachable).
  let repo: { repository: Repository; note: string | null } = { repository: 'primary', note: null };
  if (input.source === 'backup' && input.repository) {
    try {
      repo = await resolveRepository(input.repository);
    } catch (err) {
      return gate.refuse(err);
    }
  }
  const fromRepo = (r: RebuildReport): RebuildReport =>
    repo.repository === 'secondary' ? { ...r, repository: { name: 'secondary', note: repo.note } } : r;
  const node = nodeActivities(input.node, queueOf(input.node), nodeTask, repo.repository);
  const tool = nodeActivities(input.node, queueOf(input.node), longTool, repo.repository);
  const prim = nodeActivities(primary, queueOf(primary), nodeTask);
  const primWait = nodeActivities(primary, queueOf(primary), longTool);

  // 2. From a backup: the newest good one (its WAL comes from the archive, then streaming).
  let backup = null;
  if (input.source === 'backup') {
    progress.step = 'choosing the newest good backup';
    try {
      backup = await controlActivities(storageOp, repo.repository).newestGoodBackup({ cluster });
    } catch (err) {
      return gate.refuse(err);
    }
    if (!backup)
      return gate.refuse(
        new ReplicationPreconditionError(cluster, 'rebuild', [
          `no good backup of cluster ${cluster} to rebuild from (expected at least one; take one, or rebuild from the primary)`,
        ]),
      );
    progress.backupId = backup.id;
  }
  // The node's tools must be of the primary's major version (patched: older histories ran without the check).
  const primaryVersion = probes.find((p) => p.node.name === primary)?.probe?.serverVersion;
  if (primaryVersion && patched('rebuild-tool-versions')) {
    progress.step = `checking the PostgreSQL tools on ${input.node}`;
    try {
      await node.checkToolVersions({ work: 'rebuild', against: { label: `the primary ${primary}`, versionNum: primaryVersion } });
    } catch (err) {
      return gate.refuse(err);
    }
  }
  // Judged: nothing has changed yet; from here on the rebuild acts.
  gate.pass({ node: input.node, primary, source: input.source, backupId: backup?.id ?? null });

  // 3. The node's slot on the primary: the clone streams on it, the standby keeps it.
  progress.step = `replication slot ${input.slot} on ${primary}`;
  await prim.ensureSlot({ slot: input.slot });

  const id = restoreId(workflowInfo().startTime);
  const oldDataDir = setAsideName(input.dataDir, id);
  let spaces: TablespaceMapping[] = [];
  try {
    // 4. Stop the standby and rename its data directory aside: kept until the new one streams.
    progress.step = 'stopping the standby and renaming its data directory aside';
    await node.stopServer();
    const prepared = await node.prepareDestination({ dataDir: input.dataDir, restoreId: id, replacing: true, stopFirst: false });
    progress.oldDataDir = prepared.oldDataDir;

    // 5. The new copy.
    const c0 = Date.now();
    const where = { dataDir: input.dataDir };
    // A backup's tablespaces: at their paths when free on this host, else beside the data directory.
    if (backup?.tablespaces?.length) {
      progress.step = `placing ${backup.tablespaces.length} tablespace(s)`;
      spaces = await node.mapRebuildTablespaces({ ...where, tablespaces: backup.tablespaces });
    }
    if (!backup) {
      progress.step = `pg_basebackup from ${primary}`;
      await tool.cloneFromPrimary({ primary });
    } else if (backup.method === 'pgbackrest') {
      progress.step = `pgbackrest restore --type=standby --set=${backup.pgbackrestLabel}`;
      await tool.pgbackrestRestoreSet({
        ...where,
        label: backup.pgbackrestLabel!,
        settings: 'standby',
        keepArchiving: true,
        ...(spaces.length ? { tablespaces: spaces.map((t) => ({ oid: t.oid, to: t.to })) } : {}),
      });
    } else {
      progress.step = `downloading and extracting backup ${backup.id}`;
      await tool.fetchBaseBackup({
        ...where,
        backupId: backup.id,
        objectName: backup.object!.name,
        sha256: backup.object!.sha256,
        compression: backup.compression,
        ...(spaces.length
          ? {
              tablespaces: spaces.map((t) => {
                const o = backup!.tablespaces!.find((b) => b.oid === t.oid)!.object!;
                return { oid: t.oid, objectName: o.name, sha256: o.sha256, dir: t.to };
              }),
            }
          : {}),
        ...(backup.manifestObject ? { manifestObject: backup.manifestObject } : {}),
      });
      progress.step = 'verifying the restored files (pg_verifybackup)';
      await tool.verifyRestoredBackup({ ...where, backupId: backup.id });
    }
    const clone = (Date.now() - c0) / 1000;

    // 6. A standby of the primary, with the node's own configuration back.
    progress.step = 'writing the standby settings';
    await node.writeStandbySettings({ primary, ownConfigFrom: prepared.oldDataDir, fromArchive: backup !== null });

    // 7. Start it; done only when the primary shows it streaming with small lag.
    progress.step = 'starting the standby';
    await node.startServer();
    progress.step = `waiting until ${input.node} streams with lag <= ${input.maxLagBytes} bytes`;
    const w = await primWait.awaitStreaming({
      standby: input.node,
      maxLagBytes: input.maxLagBytes,
      timeoutSeconds: input.catchUpTimeoutSeconds,
    });

    // 8. Proven: the old data directory can go.
    let removed = false;
    if (prepared.oldDataDir) {
      progress.step = 'removing the old data directory';
      removed = (await node.removeOldDataDir({ oldDataDir: prepared.oldDataDir })).removed;
    }
    const r = fromRepo(
      report({
        backupId: backup?.id ?? null,
        oldDataDir: prepared.oldDataDir,
        oldDataDirRemoved: removed,
        lagBytes: w.lagBytes,
        seconds: { clone: round(clone), catchUp: round(w.seconds), total: round((Date.now() - t0) / 1000) },
      }),
    );
    await controlActivities(storageOp, repo.repository).storeRebuildReport({ report: r });
    progress.step = 'done';
    return r;
  } catch (err) {
    // 9. Not proven: the new copy goes, the old directory comes back, the node runs as it did.
    // (Never renamed aside: cleanupRestore finds no old directory and leaves the data alone.)
    progress.step = 'failed: putting the old data directory back';
    const cleaned = await CancellationScope.nonCancellable(() =>
      node.cleanupRestore({
        dataDir: input.dataDir,
        createdDir: true,
        oldDataDir,
        restartOld: wasRunning,
        keepLog: true,
        ...(spaces.length ? { tablespaceDirs: spaces.map((t) => t.to) } : {}),
      }),
    );
    // The new copy's server log often says why it failed (e.g. a timeline that is not a child of its history): kept.
    if (cleaned.keptLog) {
      progress.step = `failed; the new copy's server log is kept at ${cleaned.keptLog}: ${cleaned.logLines}`;
      log.warn('rebuild failed; server log kept', { keptLog: cleaned.keptLog, reason: cleaned.logLines });
    }
    throw err;
  }
}

function round(s: number): number {
  return Math.round(s * 100) / 100;
}
