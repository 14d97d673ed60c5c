/**
 * The activity factory. `createActivities(deps)` builds every activity pgdr has, so tests can
 * inject their own dependencies. Each activity is wrapped so that a PgdrError leaves as an
 * ApplicationFailure with the class name as its type (see common/errors.ts).
 *
 * Node-bound activities (probeNode, uploadBaseBackup, verifyBaseBackup) run on each node's
 * agent queue; the rest on the control queue. The same object serves both.
 */
import { Client, Connection } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import { toApplicationFailure } from '../domain/errors.js';
import type { BackupManifest } from '../domain/catalog.js';
import type { RetentionPolicy } from '../domain/retention.js';
import type { NodeProbe } from '../domain/status.js';
import type { PgdrConfig } from '../config/schema.js';
import { probeNode } from '../adapters/sql.js';
import { createSecretReader, type SecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { uploadBaseBackup, verifyBaseBackup, type UploadBaseBackupInput, type VerifyBaseBackupInput } from './steps/basebackup.js';
import { writeManifest } from '../adapters/catalogStore.js';
import { applyExpiry, planExpiry } from './steps/retention.js';
import { holderOf, lockHolder } from '../adapters/temporal.js';
import { activityProgress } from '../adapters/progress.js';
import type { WalCheckResult } from '../domain/walCheck.js';
import { enableArchivingOnNode, switchWal, type EnableArchivingNodeInput } from './steps/archiving.js';
import { pgbackrestBackup, pgbackrestExpireSet, type PgbackrestBackupInput } from '../adapters/pgbackrest.js';
import { awaitArchived, lastArchivedCommit, readWalCheck, refreshRecoveryWindow, scanArchive, storeWalCheck, walContinuity } from './steps/walCheck.js';
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
  storeRestoreReport,
  verifyRestoredBackup,
  writeRecoverySettings,
} from './steps/restore.js';
import { pgbackrestVerifySet } from '../adapters/pgbackrest.js';
import { dropRestoredCopy, inspectRestoredCopies } from './steps/restoredCopies.js';
import type { RestoreReport } from '../domain/restore.js';
import type { DrillReport } from '../domain/drill.js';
import { runDrillChecks, storeDrillReport, type DrillChecksInput } from './steps/drill.js';
import * as replication from './steps/replication.js';
import { pgbouncerAdmin, pointPgBouncer, type PgBouncerCommand } from '../adapters/pgbouncer.js';
import { awaitPatroni, patroniMembers, patroniReinitialize, patroniSwitchover } from '../adapters/patroni.js';
import { newestGoodBackup, storeRebuildReport, storeSwitchoverReport } from '../adapters/reportStore.js';
import type { RebuildReport, SwitchoverReport } from '../domain/replication.js';

export interface ActivityDeps {
  config: PgdrConfig;
  readSecret?: SecretReader;
  s3?: S3Client;
  /** A Temporal client; created on first use when not given. */
  temporal?: Client;
}

export function createActivities(deps: ActivityDeps) {
  const readSecret = deps.readSecret ?? createSecretReader();
  const config = deps.config;
  const s3 = deps.s3 ?? createS3Client(config.storage, readSecret);
  let temporal: Promise<Client> | undefined = deps.temporal ? Promise.resolve(deps.temporal) : undefined;
  const temporalClient = () =>
    (temporal ??= Connection.connect({ address: config.temporal.address }).then((connection) => new Client({ connection, namespace: config.temporal.namespace })));
  const d = { config, readSecret, s3 };

  return mapErrors({
    /** Node agent: role, timeline, LSNs, archiver and replication figures of this node. */
    async probeNode(input: { cluster: string; node: string }): Promise<NodeProbe> {
      return probeNode(d, input.cluster, input.node);
    },
    /** Node agent: pg_basebackup streamed into S3 with its sha256; heartbeats bytes and %. */
    async uploadBaseBackup(input: UploadBaseBackupInput) {
      return uploadBaseBackup(d, input);
    },
    /** Node agent: download the stored backup, check its sha256, run pg_verifybackup. */
    async verifyBaseBackup(input: VerifyBaseBackupInput) {
      return verifyBaseBackup(d, input);
    },
    /** Control: write a backup's manifest.json, once. */
    async writeManifest(input: { manifest: BackupManifest }): Promise<void> {
      return writeManifest(s3, config.storage, input.manifest);
    },
    /** Control: what retention would remove. */
    async planExpiry(input: { cluster: string; retention: RetentionPolicy }) {
      return planExpiry(d, input.cluster, input.retention);
    },
    /** Control: remove expired backups (manifest first) and WAL before the cutoff. */
    async applyExpiry(input: { cluster: string; expire: string[]; walCutoff: string | null }) {
      return applyExpiry(d, input.cluster, input.expire, input.walCutoff);
    },
    /** Node agent: archive_mode, archive_command and restore_command via ALTER SYSTEM, then reload. */
    async enableArchivingOnNode(input: EnableArchivingNodeInput) {
      return enableArchivingOnNode(d, input);
    },
    /** Node agent (primary): pg_switch_wal(), naming the segment it closed. */
    async switchWal(input: { cluster: string; node: string }) {
      return switchWal(d, input);
    },
    /** Node agent: the newest commit in the archive, read with pg_waldump. */
    async lastArchivedCommit(input: { cluster: string; node: string; lastSegment: string; segmentBytes: number }) {
      return lastArchivedCommit(d, input);
    },
    /** Control: wait for one WAL file to appear in S3. */
    async awaitArchived(input: { cluster: string; name: string; timeoutSeconds: number }) {
      return awaitArchived(d, input);
    },
    /** Control: continuity of the archive from the oldest kept backup, and the timeline history. */
    async walContinuity(input: { cluster: string; timeline: number | null; segmentBytes: number }) {
      return walContinuity(d, input);
    },
    /** Node agent: the newest archived commit (and a restore point by name) via pg_waldump. */
    async scanArchive(input: Parameters<typeof scanArchive>[1]) {
      return scanArchive(d, input);
    },
    /** Node agent: is a restore destination absent or empty, a server running there, its port free. */
    async inspectDestination(input: Parameters<typeof inspectDestination>[1]) {
      return inspectDestination(d, input);
    },
    /** Node agent: an empty destination directory; old data renamed aside when replacing. */
    async prepareDestination(input: Parameters<typeof prepareDestination>[1]) {
      return prepareDestination(d, input);
    },
    /** Node agent: download a base backup, check its sha256, extract it; heartbeats bytes and %. */
    async fetchBaseBackup(input: Parameters<typeof fetchBaseBackup>[1]) {
      return fetchBaseBackup(d, input);
    },
    /** Node agent: pg_verifybackup on the restored directory. */
    async verifyRestoredBackup(input: Parameters<typeof verifyRestoredBackup>[1]) {
      return verifyRestoredBackup(d, input);
    },
    /** Node agent: pgbackrest verify, judged by one set's line. */
    async pgbackrestVerifySet(input: { cluster: string; node: string; label: string }) {
      return pgbackrestVerifySet(d, input.cluster, input.node, input.label, activityProgress().signal);
    },
    /** Node agent: pgbackrest restore of one set with the target. */
    async pgbackrestRestoreSet(input: Parameters<typeof pgbackrestRestoreSet>[1]) {
      return pgbackrestRestoreSet(d, input);
    },
    /** Node agent: recovery.signal and the recovery settings in postgresql.auto.conf. */
    async writeRecoverySettings(input: Parameters<typeof writeRecoverySettings>[1]) {
      return writeRecoverySettings(d, input);
    },
    /** Node agent: pg_ctl start of the restored instance. */
    async startRestoredInstance(input: Parameters<typeof startRestoredInstance>[1]) {
      return startRestoredInstance(d, input);
    },
    /** Node agent: follow replay to the target; heartbeats the replayed LSN. */
    async awaitRecoveryTarget(input: Parameters<typeof awaitRecoveryTarget>[1]) {
      return awaitRecoveryTarget(d, input);
    },
    /** Node agent: comment out the target settings of a promoted restore. */
    async settleRecoverySettings(input: Parameters<typeof settleRecoverySettings>[1]) {
      return settleRecoverySettings(d, input);
    },
    /** Node agent: undo an unfinished restore, old directory back in place. */
    async cleanupRestore(input: Parameters<typeof cleanupRestore>[1]) {
      return cleanupRestore(d, input);
    },
    /** Node agent: remove the directory a proven restore replaced. */
    async removeOldDataDir(input: Parameters<typeof removeOldDataDir>[1]) {
      return removeOldDataDir(d, input);
    },
    /** Node agent, read-only: what is at restored copies' directories (marker, live server, port). */
    async inspectRestoredCopies(input: Parameters<typeof inspectRestoredCopies>[1]) {
      return inspectRestoredCopies(d, input);
    },
    /** Node agent: stop (fast) and remove a restored copy proven by its marker. */
    async dropRestoredCopy(input: Parameters<typeof dropRestoredCopy>[1]) {
      return dropRestoredCopy(d, input);
    },
    /** Control: store a restore report in S3. */
    async storeRestoreReport(input: { report: RestoreReport }): Promise<string> {
      return storeRestoreReport(d, input.report);
    },
    /** Node agent: the drill's checks on a restored scratch copy. */
    async runDrillChecks(input: DrillChecksInput) {
      return runDrillChecks(d, input);
    },
    /** Control: store a drill report in S3. */
    async storeDrillReport(input: { report: DrillReport }): Promise<void> {
      return storeDrillReport(d, input.report);
    },
    /** Control: the newest stored WAL archive check (null when none). */
    async readWalCheck(input: { cluster: string }): Promise<WalCheckResult | null> {
      return (await readWalCheck(d, input.cluster)) ?? null;
    },
    /** Control: store a WAL archive check result. */
    async storeWalCheck(input: { result: WalCheckResult }): Promise<void> {
      return storeWalCheck(d, input.result);
    },
    /** After retention: the stored recovery window recomputed from the catalog as it is now. */
    async refreshRecoveryWindow(input: { cluster: string; at: string }) {
      return refreshRecoveryWindow(d, input);
    },
    /** Node agent (primary): stanza-create, pgbackrest backup, verify; adopts a backup a crashed attempt finished. */
    async pgbackrestBackup(input: PgbackrestBackupInput) {
      return pgbackrestBackup(d, input);
    },
    /** Node agent: expire one backup set in the pgBackRest repo. */
    async pgbackrestExpireSet(input: { cluster: string; node: string; label: string }) {
      return pgbackrestExpireSet(d, input);
    },
    /** Node agent: pg_ctl stop (fast, then immediate). */
    async stopServer(input: Parameters<typeof replication.stopServer>[1]) {
      return replication.stopServer(d, input);
    },
    /** Node agent: pg_ctl start, waiting until it accepts connections. */
    async startServer(input: { cluster: string; node: string }) {
      return replication.startServer(d, input);
    },
    /** Node agent: the switchover's stop (fast) and the shutdown checkpoint it wrote. */
    async stopAndReadControl(input: { cluster: string; node: string }) {
      return replication.stopAndReadControl(d, input);
    },
    /** Node agent: pg_controldata (state, latest checkpoint) of a stopped server. */
    async readControlData(input: { cluster: string; node: string }) {
      return replication.readControlData(d, input);
    },
    /** Node agent: CHECKPOINT. */
    async checkpoint(input: { cluster: string; node: string }) {
      return replication.checkpoint(d, input);
    },
    /** Node agent: wait (bounded) until the archiver has no .ready segment left. */
    async awaitArchiverIdle(input: Parameters<typeof replication.awaitArchiverIdle>[1]) {
      return replication.awaitArchiverIdle(d, input);
    },
    /** Node agent (candidate): wait until replay passed an LSN; fails fast when its server is gone. */
    async awaitReplayed(input: Parameters<typeof replication.awaitReplayed>[1]) {
      return replication.awaitReplayed(d, input);
    },
    /** Node agent: pg_promote(wait => true). */
    async promote(input: { cluster: string; node: string; timeoutSeconds?: number }) {
      return replication.promote(d, input);
    },
    /** Node agent: clear restore_command for a promotion, or put it back. */
    async setRestoreCommand(input: { cluster: string; node: string; mode: 'off' | 'restore' | 'pgdr'; previous?: string | null }) {
      return replication.setRestoreCommand(d, input);
    },
    /** Node agent (primary): a physical replication slot, unless it exists. */
    async ensureSlot(input: { cluster: string; node: string; slot: string }) {
      return replication.ensureSlot(d, input);
    },
    /** Node agent (primary): synchronous_standby_names via ALTER SYSTEM. */
    async setSynchronousStandbyNames(input: { cluster: string; node: string; value: string }) {
      return replication.setSynchronousStandbyNames(d, input);
    },
    /** Node agent: make the stopped data directory a standby of a primary (own config kept). */
    async writeStandbySettings(input: Parameters<typeof replication.writeStandbySettings>[1]) {
      return replication.writeStandbySettings(d, input);
    },
    /** Node agent: pg_basebackup from the primary on the node's slot; heartbeats bytes and %. */
    async cloneFromPrimary(input: { cluster: string; node: string; primary: string }) {
      return replication.cloneFromPrimary(d, input);
    },
    /** Node agent: pg_rewind against the new primary when the timelines diverged. */
    async rewindFrom(input: { cluster: string; node: string; source: string }) {
      return replication.rewindFrom(d, input);
    },
    /** Node agent: point a running standby at a new primary. */
    async repointStandby(input: { cluster: string; node: string; primary: string }) {
      return replication.repointStandby(d, input);
    },
    /** Node agent (primary): wait until a standby streams on its slot with small lag; heartbeats lag. */
    async awaitStreaming(input: Parameters<typeof replication.awaitStreaming>[1]) {
      return replication.awaitStreaming(d, input);
    },
    /** Control: PgBouncer PAUSE / RESUME / RELOAD. */
    async pgbouncerAdmin(input: { cluster: string; command: PgBouncerCommand; timeoutSeconds: number }) {
      return pgbouncerAdmin(d, input);
    },
    /** Node agent (PgBouncer's host): point PgBouncer at the primary, then RELOAD. */
    async pointPgBouncer(input: { cluster: string; primary: string; timeoutSeconds: number; resume?: boolean }) {
      return pointPgBouncer(d, input);
    },
    /** Control: Patroni's members (GET /cluster). */
    async patroniMembers(input: { cluster: string }) {
      return patroniMembers(d, input);
    },
    /** Control: Patroni POST /switchover. */
    async patroniSwitchover(input: { cluster: string; leader: string; candidate: string }) {
      return patroniSwitchover(d, input);
    },
    /** Control: Patroni POST /reinitialize on a member. */
    async patroniReinitialize(input: { cluster: string; node: string }) {
      return patroniReinitialize(d, input);
    },
    /** Control: wait until Patroni shows the expected leader and streaming replicas. */
    async awaitPatroni(input: Parameters<typeof awaitPatroni>[1]) {
      return awaitPatroni(d, input);
    },
    /** Control: the newest good backup of a cluster (null: none). */
    async newestGoodBackup(input: { cluster: string }) {
      return newestGoodBackup(d, input.cluster);
    },
    /** Control: store a rebuild report. */
    async storeRebuildReport(input: { report: RebuildReport }): Promise<void> {
      return storeRebuildReport(d, input.report);
    },
    /** Control: store a switchover report. */
    async storeSwitchoverReport(input: { report: SwitchoverReport }): Promise<void> {
      return storeSwitchoverReport(d, input.report);
    },
    /** Control: which workflow holds the cluster's lock. */
    async lockHolder(input: { cluster: string }): Promise<string | null> {
      return lockHolder(await temporalClient(), input.cluster);
    },
    /** Control: which workflow holds a lock workflow (e.g. a restore destination's). */
    async lockHolderOf(input: { lockId: string }): Promise<string | null> {
      return holderOf(await temporalClient(), input.lockId);
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;

type AnyFn = (...args: never[]) => Promise<unknown>;

function mapErrors<T extends Record<string, AnyFn>>(activities: T): T {
  const wrapped: Record<string, AnyFn> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const { signal } = activityProgress();
      try {
        return await fn(...args);
      } catch (err) {
        // A tool killed because the activity was cancelled is a cancellation, not a failure.
        if (signal.aborted) throw signal.reason;
        throw toApplicationFailure(err);
      }
    };
  }
  return wrapped as T;
}
