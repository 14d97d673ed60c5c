/**
 * Workflow inputs built from the config: names, queues and policies, never secrets. Used by
 * the API, the schedule reconciler, tests and the benchmark alike.
 */
import { nodeTaskQueue, restoreDataDir } from '../domain/naming.js';
import { durationSeconds } from '../domain/drill.js';
import type { BackupType } from '../domain/catalog.js';
import type { RetentionPolicy } from '../domain/retention.js';
import type { BackupInput } from '../workflows/backup.js';
import type { WalCheckInput } from '../workflows/walArchiveCheck.js';
import type { EnableArchivingInput } from '../workflows/enableArchiving.js';
import { archiveCommands } from '../config/archiveCommands.js';
import { clusterOf, nodeOf } from '../config/lookup.js';
import type { RestoreDestination, RestoreRequest } from '../domain/restore.js';
import type { PitrRestoreInput } from '../workflows/pitrRestore.js';
import type { RestoreDrillInput } from '../workflows/restoreDrill.js';
import type { CopyBackupInput } from '../workflows/copyBackup.js';
import { defaultSlotName, type PgdrConfig } from '../config/schema.js';
import type { ReplicaRebuildInput } from '../workflows/replicaRebuild.js';
import type { SwitchoverInput } from '../workflows/switchover.js';
import type { RebuildSource } from '../domain/replication.js';
import type { RepositoryChoice } from '../config/repositories.js';

/** Node names with their agents' task queues, as workflows need them. */
export function nodeQueues(config: PgdrConfig, cluster: string): { name: string; taskQueue: string }[] {
  return Object.entries(clusterOf(config, cluster).nodes).map(([name, n]) => ({
    name,
    taskQueue: nodeTaskQueue(cluster, name, n.agentQueue),
  }));
}

/** The backup workflow's input for a cluster, from config (also used by schedules). */
export function backupInput(config: PgdrConfig, cluster: string, type: BackupType, trigger: string): BackupInput {
  const c = clusterOf(config, cluster);
  return {
    cluster,
    type,
    method: c.method,
    nodes: nodeQueues(config, cluster),
    from: c.backup.from,
    verify: c.backup.verify,
    retention: retentionPolicy(config, cluster),
    trigger,
    // With a secondary repository, each good backup starts a copy there.
    ...(config.storage.secondary ? { copyToSecondary: true } : {}),
  };
}

/** A cluster's retention as workflows take it (no undefined fields in history). */
export function retentionPolicy(config: PgdrConfig, cluster: string): RetentionPolicy {
  const r = clusterOf(config, cluster).retention;
  return {
    fullCount: r.fullCount,
    ...(r.recoveryWindowDays !== undefined ? { recoveryWindowDays: r.recoveryWindowDays } : {}),
    minWindowSeconds: durationSeconds(r.minWindow),
  };
}

/** The walArchiveCheck workflow's input for a cluster, from config (also used by its schedule). */
export function walCheckInput(config: PgdrConfig, cluster: string, trigger: string): WalCheckInput {
  const a = clusterOf(config, cluster).archive;
  return {
    cluster,
    nodes: nodeQueues(config, cluster),
    roundTripTimeoutSeconds: a.roundTripTimeoutSeconds,
    maxLagSegments: a.maxLagSegments,
    maxArchiveAgeMinutes: a.maxArchiveAgeMinutes,
    trigger,
  };
}

/** The enableArchiving workflow's input. */
export function enableArchivingInput(config: PgdrConfig, cluster: string): EnableArchivingInput {
  return { cluster, nodes: nodeQueues(config, cluster), ...archiveCommands(config, cluster) };
}

/** Name of the schedule that runs walArchiveCheck; backup schedules may not take it. */
export const WAL_CHECK_SCHEDULE = 'wal-archive-check';

/** Name of the schedule that runs restoreDrill. */
export const DRILL_SCHEDULE = 'restore-drill';

/** Name of the schedule that runs copyBackup (storage.secondary.copyCron). */
export const COPY_SCHEDULE = 'copy-to-secondary';

export interface ConfiguredSchedule {
  name: string;
  procedure: 'backup' | 'walArchiveCheck' | 'restoreDrill' | 'copyBackup';
  /** Backup type, or "check". */
  type: string;
  cron: string;
}

/** Every schedule the config asks for on a cluster: its backup schedules and the WAL archive check. */
export function clusterSchedules(config: PgdrConfig, cluster: string): ConfiguredSchedule[] {
  const c = clusterOf(config, cluster);
  const out: ConfiguredSchedule[] = Object.entries(c.backup.schedules).map(([name, s]) => ({
    name,
    procedure: 'backup',
    type: s.type,
    cron: s.cron,
  }));
  if (c.archive.checkCron) out.push({ name: WAL_CHECK_SCHEDULE, procedure: 'walArchiveCheck', type: 'check', cron: c.archive.checkCron });
  if (c.drill.cron) out.push({ name: DRILL_SCHEDULE, procedure: 'restoreDrill', type: 'drill', cron: c.drill.cron });
  // The offsite copy's catch-up (pgbackrest: a backup into repo2 when the newest good one has none there).
  const copyCron = config.storage.secondary?.copyCron;
  if (copyCron) out.push({ name: COPY_SCHEDULE, procedure: 'copyBackup', type: 'copy', cron: copyCron });
  return out;
}

/** Where a restore goes when the request does not say: the restore node, a new directory, a free port (0: pick). */
export function defaultDestination(
  config: PgdrConfig,
  cluster: string,
  id: string,
  given: { node?: string; dataDir?: string; port?: number } = {},
): RestoreDestination {
  const c = clusterOf(config, cluster);
  const node = given.node ?? c.restore.node ?? Object.keys(c.nodes)[0]!;
  nodeOf(config, cluster, node);
  return { node, dataDir: given.dataDir ?? restoreDataDir(c.restore.dir, cluster, id), port: given.port ?? 0 };
}

/** The pitrRestore input for a checked request. */
export function restoreInput(config: PgdrConfig, request: RestoreRequest, trigger: string): PitrRestoreInput {
  const c = clusterOf(config, request.cluster);
  const n = c.nodes[request.destination.node]!;
  return {
    request,
    destinationQueue: nodeTaskQueue(request.cluster, request.destination.node, n.agentQueue),
    recoveryTimeoutSeconds: c.restore.recoveryTimeoutMinutes * 60,
    autoPort: request.destination.port === 0,
    nodes: nodeQueues(config, request.cluster),
    trigger,
  };
}

/** The restoreDrill input for a cluster, from config (also used by its schedule). */
export function drillInput(config: PgdrConfig, cluster: string, trigger: string, repository?: RepositoryChoice): RestoreDrillInput {
  const c = clusterOf(config, cluster);
  const node = c.drill.node ?? c.restore.node ?? Object.keys(c.nodes)[0]!;
  return {
    cluster,
    nodes: nodeQueues(config, cluster),
    drillNode: node,
    drillQueue: nodeTaskQueue(cluster, node, c.nodes[node]!.agentQueue),
    restoreDir: c.restore.dir,
    target: c.drill.target,
    includeOlderBackup: c.drill.includeOlderBackup,
    proofWindowDays: c.drill.proofWindowDays,
    recoveryTimeoutSeconds: c.restore.recoveryTimeoutMinutes * 60,
    trigger,
    ...(repository && repository !== 'primary' ? { repository } : {}),
  };
}

/**
 * The copyBackup input (the worker's storage.secondary is where it copies). A pgbackrest cluster
 * catches up with a backup into repo2, so its copy names the nodes and the backup source too.
 */
export function copyInput(config: PgdrConfig, cluster: string, verify: boolean, trigger: string): CopyBackupInput {
  const c = clusterOf(config, cluster);
  if (c.method !== 'pgbackrest') return { cluster, verify, trigger };
  return { cluster, verify, trigger, pgbackrest: { nodes: nodeQueues(config, cluster), from: c.backup.from } };
}

/** Every node's replication slot (config `slot`, or pgdr_<node>). */
export function nodeSlots(config: PgdrConfig, cluster: string): Record<string, string> {
  return Object.fromEntries(Object.entries(clusterOf(config, cluster).nodes).map(([name, n]) => [name, n.slot ?? defaultSlotName(name)]));
}

/** The replicaRebuild input for a node. */
export function rebuildInput(
  config: PgdrConfig,
  cluster: string,
  node: string,
  source: RebuildSource,
  trigger: string,
  repository?: RepositoryChoice,
): ReplicaRebuildInput {
  const c = clusterOf(config, cluster);
  const n = nodeOf(config, cluster, node);
  return {
    cluster,
    node,
    source,
    nodes: nodeQueues(config, cluster),
    dataDir: n.dataDir,
    slot: nodeSlots(config, cluster)[node]!,
    maxLagBytes: c.replication.rebuildMaxLagBytes,
    catchUpTimeoutSeconds: c.replication.catchUpTimeoutMinutes * 60,
    patroni: c.patroni !== undefined,
    trigger,
    ...(source === 'backup' && repository && repository !== 'primary' ? { repository } : {}),
  };
}

/** The switchover input; `maxLagBytes` and `backupAfter` may come from the request. */
export function switchoverInput(
  config: PgdrConfig,
  cluster: string,
  candidate: string,
  opts: { maxLagBytes?: number; backupAfter?: boolean },
  trigger: string,
): SwitchoverInput {
  const c = clusterOf(config, cluster);
  nodeOf(config, cluster, candidate);
  const pb = c.pgbouncer;
  return {
    cluster,
    candidate,
    nodes: nodeQueues(config, cluster),
    slots: nodeSlots(config, cluster),
    maxLagBytes: opts.maxLagBytes ?? c.switchover.maxLagBytes,
    confirmTimeoutSeconds: c.switchover.confirmTimeoutSeconds,
    pauseTimeoutSeconds: c.switchover.pauseTimeoutSeconds,
    pgbouncerQueue: pb ? nodeTaskQueue(cluster, pb.node, c.nodes[pb.node]!.agentQueue) : null,
    patroni: c.patroni ? { timeoutSeconds: c.patroni.timeoutSeconds } : null,
    rejoinMaxLagBytes: c.replication.rebuildMaxLagBytes,
    catchUpTimeoutSeconds: c.replication.catchUpTimeoutMinutes * 60,
    historyTimeoutSeconds: c.archive.roundTripTimeoutSeconds,
    backupAfter:
      (opts.backupAfter ?? c.switchover.backupAfter) ? { ...backupInput(config, cluster, 'full', `switchover`), from: 'primary' } : null,
    trigger,
  };
}
