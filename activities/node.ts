/**
 * The node agent's activities: `createNodeActivities({config, cluster, node})` builds them for
 * exactly one node, registered on that node's queue (pgdr-node-<cluster>-<node>). Their inputs
 * carry no `{cluster, node}`: the factory puts its own in, and refuses a task that names
 * another node (NodeMismatchError). Fields naming other nodes (primary, source, standby) stay.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';
import { nodeOf } from '../config/lookup.js';
import { probeNode } from '../adapters/sql.js';
import { createSecretReader, type SecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import type { KeptSessions } from '../adapters/keptConnection.js';
import { activityProgress } from '../adapters/progress.js';
import { pgbackrestBackup, pgbackrestExpireSet, pgbackrestVerifyRepo, pgbackrestVerifySet } from '../adapters/pgbackrest.js';
import { CopyCorruptError } from '../domain/errors.js';
import { pointPgBouncer } from '../adapters/pgbouncer.js';
import { bindNode, stepDeps, type NodeBinding, type NodeBound, type StepDeps } from './bind.js';
import { uploadBaseBackup, verifyBaseBackup } from './steps/basebackup.js';
import { awaitArchiverReported, enableArchivingOnNode, switchWal } from './steps/archiving.js';
import { lastArchivedCommit, scanArchive } from './steps/walCheck.js';
import {
  awaitRecoveryTarget,
  cleanupRestore,
  fetchBaseBackup,
  inspectDestination,
  pgbackrestRestoreSet,
  prepareDestination,
  removeOldDataDir,
  settleRecoverySettings,
  startRestoredInstance,
  verifyRestoredBackup,
  writeRecoverySettings,
} from './steps/restore.js';
import { dropRestoredCopy, inspectRestoredCopies } from './steps/restoredCopies.js';
import { inspectTablespaceDirs, mapRebuildTablespaces, prepareTablespaceDirs } from './steps/restoreTablespaces.js';
import { runDrillChecks } from './steps/drill.js';
import { checkToolVersions } from './steps/versions.js';
import {
  awaitArchiverIdle,
  awaitReplayed,
  awaitStreaming,
  checkpoint,
  cloneFromPrimary,
  ensureSlot,
  promote,
  readControlData,
  repointStandby,
  rewindFrom,
  setRestoreCommand,
  setSynchronousStandbyNames,
  startServer,
  stopAndReadControl,
  stopServer,
  writeStandbySettings,
} from './steps/replication.js';

const nodeSteps = {
  // Looking: role, timeline, LSNs, archiver and replication figures of this node.
  probeNode: (d: StepDeps, i: NodeBinding) => probeNode(d, i.cluster, i.node),
  // Backups: pg_basebackup into S3 and its verification; pgBackRest's backup and expiry.
  uploadBaseBackup,
  verifyBaseBackup,
  pgbackrestBackup: async (d: StepDeps, i: Parameters<typeof pgbackrestBackup>[1]) => {
    // The tools must be of the server's major version: refused before pgBackRest starts a set.
    await checkToolVersions(d, { cluster: i.cluster, node: i.node, work: 'backup' });
    return pgbackrestBackup(d, i);
  },
  pgbackrestExpireSet,
  // WAL: archiving settings, pg_switch_wal, the archive read with pg_waldump.
  enableArchivingOnNode,
  switchWal,
  awaitArchiverReported,
  lastArchivedCommit,
  scanArchive,
  // Restores into a directory on this node, their cleanup, restored copies, drill checks.
  inspectDestination,
  prepareDestination,
  inspectTablespaceDirs,
  prepareTablespaceDirs,
  mapRebuildTablespaces,
  fetchBaseBackup,
  verifyRestoredBackup,
  pgbackrestVerifySet: (d: StepDeps, i: NodeBinding & { label: string }) =>
    pgbackrestVerifySet(d, i.cluster, i.node, i.label, activityProgress().signal),
  // The whole repository, for a copy run's verify (the secondary: pgBackRest's repo2); damage is named.
  pgbackrestVerifyRepository: async (d: StepDeps, i: NodeBinding) => {
    const v = await pgbackrestVerifyRepo(d, i.cluster, i.node, activityProgress().signal);
    if (!v.ok)
      throw new CopyCorruptError(
        i.cluster,
        v.problems.map((p) => `s3://${d.config.storage.bucket}/${d.config.storage.prefix}/${i.cluster}/pgbackrest: ${p}`),
      );
    return { objects: v.checked, bytes: null, tool: 'pgbackrest verify' as const };
  },
  pgbackrestRestoreSet,
  writeRecoverySettings,
  startRestoredInstance,
  awaitRecoveryTarget,
  settleRecoverySettings,
  cleanupRestore,
  removeOldDataDir,
  inspectRestoredCopies,
  dropRestoredCopy,
  runDrillChecks,
  // Versions: this node's tools against its server's, or another server's, major version.
  checkToolVersions,
  // Replication: this node's server (pg_ctl, promote, settings), clones, rewinds, slots.
  stopServer,
  startServer,
  stopAndReadControl,
  readControlData,
  checkpoint,
  awaitArchiverIdle,
  awaitReplayed,
  promote,
  setRestoreCommand,
  ensureSlot,
  setSynchronousStandbyNames,
  writeStandbySettings,
  cloneFromPrimary,
  rewindFrom,
  repointStandby,
  awaitStreaming,
  // PgBouncer's host (the cluster's pgbouncer.node): its databases file, then RELOAD.
  pointPgBouncer,
};

export interface NodeActivityDeps {
  config: PgdrConfig;
  cluster: string;
  node: string;
  readSecret?: SecretReader;
  s3?: S3Client;
  /** The process's kept sessions (worker/main.ts closes them at shutdown); without them each probe connects anew. */
  sessions?: KeptSessions;
}

export function createNodeActivities(deps: NodeActivityDeps): NodeActivities {
  // A node the config does not have fails here, at start, not at the first task.
  nodeOf(deps.config, deps.cluster, deps.node);
  const readSecret = deps.readSecret ?? createSecretReader();
  const s3 = deps.s3 ?? createS3Client(deps.config.storage, readSecret);
  const stepsDeps = { ...stepDeps(deps.config, readSecret, s3), ...(deps.sessions ? { sessions: deps.sessions } : {}) };
  return bindNode(stepsDeps, { cluster: deps.cluster, node: deps.node }, nodeSteps);
}

export type NodeActivities = NodeBound<typeof nodeSteps>;
