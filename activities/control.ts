/**
 * The control worker's activities (queue `pgdr`): everything that needs no Postgres host.
 * The catalog, reports and WAL checks in S3, retention, Patroni's REST API, PgBouncer's admin
 * console, and the Temporal service itself (lock holders). Node work is in node.ts.
 */
import type { Client } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';
import { createSecretReader, type SecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { writeManifest } from '../adapters/catalogStore.js';
import { holderOf, lastHolderOf } from '../adapters/temporal.js';
import { connectTemporalClient } from '../adapters/temporalConnection.js';
import { lockWorkflowId } from '../domain/naming.js';
import { pgbouncerAdmin } from '../adapters/pgbouncer.js';
import { awaitPatroni, patroniMembers, patroniReinitialize, patroniSwitchover } from '../adapters/patroni.js';
import { drillProofs, newestGoodBackup, storeRebuildReport, storeSwitchoverReport } from '../adapters/reportStore.js';
import type { RetentionPolicy } from '../domain/retention.js';
import type { BackupManifest } from '../domain/catalog.js';
import { bindControl, field, stepDeps, type ControlBound, type StepDeps } from './bind.js';
import { applyExpiry, planExpiry } from './steps/retention.js';
import { awaitArchived, readWalCheck, refreshRecoveryWindow, storeWalCheck, walContinuity } from './steps/walCheck.js';
import { storeRestoreReport } from './steps/restore.js';
import { storeDrillReport } from './steps/drill.js';
import {
  chooseRepository,
  copyBackupObjects,
  copyWalRange,
  newestArchivedSegment,
  planCopy,
  secondaryUnreachable,
  storeCopyReport,
  verifySecondary,
} from './steps/copy.js';

export interface ControlActivityDeps {
  config: PgdrConfig;
  readSecret?: SecretReader;
  s3?: S3Client;
  /** A Temporal client; created on first use when not given. */
  temporal?: Client;
}

function controlSteps(temporal: () => Promise<Client>) {
  return {
    // The catalog: a backup's manifest.json, written once; retention's plan and deletions.
    writeManifest: (d: StepDeps, i: { manifest: BackupManifest }) => writeManifest(d.s3, d.config.storage, i.manifest),
    planExpiry: (d: StepDeps, i: { cluster: string; retention: RetentionPolicy }) => planExpiry(d, i.cluster, i.retention),
    applyExpiry: (d: StepDeps, i: { cluster: string; expire: string[]; walCutoff: string | null }) =>
      applyExpiry(d, i.cluster, i.expire, i.walCutoff),
    newestGoodBackup: field('cluster', newestGoodBackup),
    // The WAL archive in S3: a file's arrival, continuity, stored checks, the recovery window.
    awaitArchived,
    walContinuity,
    readWalCheck: async (d: StepDeps, i: { cluster: string }) => (await readWalCheck(d, i.cluster)) ?? null,
    storeWalCheck: field('result', storeWalCheck),
    refreshRecoveryWindow,
    // Reports in S3.
    storeRestoreReport: field('report', storeRestoreReport),
    storeDrillReport: field('report', storeDrillReport),
    // What the drills proved inside the proof window (the drill's choice of backups).
    drillProofs: (d: StepDeps, i: { cluster: string; proofWindowDays: number }) => drillProofs(d, i.cluster, new Date(), i.proofWindowDays),
    storeRebuildReport: field('report', storeRebuildReport),
    storeSwitchoverReport: field('report', storeSwitchoverReport),
    // The offsite copy (storage.secondary): plan, copy, verify, report.
    planCopy,
    copyBackupObjects,
    copyWalRange,
    verifySecondary,
    newestArchivedSegment,
    secondaryUnreachable,
    storeCopyReport: field('report', storeCopyReport),
    // Which repository a restore reads when it asked for auto.
    chooseRepository,
    // PgBouncer's admin console (PAUSE / RESUME / RELOAD) and Patroni's REST API, over the network.
    pgbouncerAdmin,
    patroniMembers,
    patroniSwitchover,
    patroniReinitialize,
    awaitPatroni,
    // The Temporal service: which workflow holds the cluster's lock, or another lock workflow.
    // Asked only by a run that lost the race for the lock: the winner, even if it has finished since.
    lockHolder: async (_d: StepDeps, i: { cluster: string }) => lastHolderOf(await temporal(), lockWorkflowId(i.cluster)),
    lockHolderOf: async (_d: StepDeps, i: { lockId: string }) => lastHolderOf(await temporal(), i.lockId),
    // Who holds a lock right now (null when it is free): asked by a restore whose pre-flight refused a busy-looking destination.
    runningLockHolderOf: async (_d: StepDeps, i: { lockId: string }) => holderOf(await temporal(), i.lockId),
  };
}

export function createControlActivities(deps: ControlActivityDeps): ControlActivities {
  const { config } = deps;
  const readSecret = deps.readSecret ?? createSecretReader();
  const s3 = deps.s3 ?? createS3Client(config.storage, readSecret);
  let temporal: Promise<Client> | undefined = deps.temporal ? Promise.resolve(deps.temporal) : undefined;
  const client = () =>
    (temporal ??= connectTemporalClient(config.temporal, readSecret).then(
      (c) => c.client,
      (err) => {
        temporal = undefined; // the next attempt connects afresh
        throw err;
      },
    ));
  return bindControl(stepDeps(config, readSecret, s3), controlSteps(client));
}

export type ControlActivities = ControlBound<ReturnType<typeof controlSteps>>;
