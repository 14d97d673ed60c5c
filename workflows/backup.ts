/**
 * backup: one at a time per cluster; streamed, checksummed, verified from what was stored;
 * manifest written last; retention applied after a good backup.
 */
import { ParentClosePolicy, defineQuery, isCancellation, patched, setHandler, startChild, workflowInfo } from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { walSegmentName, type BackupManifest, type BackupType, type BackupMethod } from '../domain/catalog.js';
import { PgdrCluster, PgdrProcedure, backupId } from '../domain/naming.js';
import { BackupVerificationError, toApplicationFailure } from '../domain/errors.js';
import type { RetentionPolicy } from '../domain/retention.js';
import { withClusterLock, type Refused } from './lock.js';
import { expireInsideLock, type ExpireResult } from './expireBackups.js';
import { longTool, storageOp } from './profiles.js';
import { childSummary, showSteps } from './uiDetails.js';
import { copyBackup } from './copyBackup.js';
import { probeNodes, rootMessage, type NodeAgent, type ProbeOutcome } from './probe.js';
import { backupIntoSecondary, pgbackrestManifest, pickSource } from './pgbackrestRepos.js';
import { controlActivities, nodeActivities } from './activityProxies.js';

export type { NodeAgent } from './probe.js';

export interface BackupInput {
  cluster: string;
  type: BackupType;
  method: BackupMethod;
  nodes: NodeAgent[];
  from: 'primary' | 'standby';
  verify: boolean;
  /** Apply retention after a good backup (default true). */
  expire?: boolean;
  retention: RetentionPolicy;
  /** Who asked: api, schedule:<name>, cli. */
  trigger: string;
  /** Start copyBackup to the secondary repository after a good backup (absent: no secondary). */
  copyToSecondary?: boolean;
}

export interface BackupResult {
  manifest: BackupManifest;
  expired: ExpireResult | null;
  /**
   * The copy to the secondary: basebackup, the copyBackup run this backup started (it runs on
   * after the backup ends); pgbackrest, the backup taken into repo2. Absent without a secondary.
   */
  copy?: { workflowId: string } | { secondary: { id: string; pgbackrestLabel: string } } | { skipped: string };
}

export interface BackupProgress {
  step: string;
  backupId: string | null;
  sourceNode: string | null;
}

export const backupProgressQuery = defineQuery<BackupProgress>('progress');

export async function backup(input: BackupInput): Promise<BackupResult | Refused> {
  const progress: BackupProgress = { step: 'waiting for the cluster lock', backupId: null, sourceNode: null };
  showSteps(progress);
  setHandler(backupProgressQuery, () => progress);

  // basebackup: the nodes are probed while the lock starts, not after it (one Temporal round trip
  // less). A switchover that held the lock may end between a probe and the lock's start, so the
  // streaming activity checks the chosen node's role before it stores anything, and the
  // backup probes again inside the lock when it changed. pgBackRest's run has no such check:
  // its nodes are probed inside the lock, as before. Runs without the marker probed inside it.
  const early = input.method === 'basebackup' && patched('probe-beside-lock') ? probeNodes(input.cluster, input.nodes) : undefined;

  return withClusterLock(input.cluster, async () => {
    // 1. Find the source node: the primary, or a streaming standby when configured.
    progress.step = 'locating the source node';
    let source = await chooseSource(input, early);
    progress.sourceNode = source.node.name;
    const { writeManifest } = controlActivities(storageOp);
    let manifest: BackupManifest;

    if (input.method === 'pgbackrest') {
      // 2. pgBackRest takes, stores and verifies the backup in its repo; pgdr records it.
      progress.step = `running pgbackrest backup --type=${input.type}`;
      const { pgbackrestBackup } = nodeActivities(source.node.name, source.node.taskQueue, longTool);
      const r = await pgbackrestBackup({ type: input.type, verify: input.verify });
      // pgBackRest takes a full when a diff or incr has nothing to build on.
      const id = backupId(workflowInfo().startTime, r.backup.type);
      progress.backupId = id;
      progress.step = 'writing the manifest';
      manifest = pgbackrestManifest(input.cluster, id, r, source);
    } else {
      // 2. The basebackup method has no incrementals: a diff or incr is taken as a new full.
      const type: BackupType = 'full';
      const id = backupId(workflowInfo().startTime, type);
      progress.backupId = id;

      // 3. Stream pg_basebackup into S3, hashing on the way.
      progress.step = 'streaming pg_basebackup to storage';
      const expectRole = early ? input.from : undefined;
      const stream = () =>
        nodeActivities(source.node.name, source.node.taskQueue, longTool).uploadBaseBackup({
          backupId: id,
          ...(expectRole ? { expectRole } : {}),
        });
      let up: Awaited<ReturnType<typeof stream>>;
      try {
        up = await stream();
      } catch (err) {
        if (!expectRole || !sourceChanged(err)) throw err;
        // Probed before the lock was ours, and the roles changed since: probe again inside it.
        progress.step = 'locating the source node again (its role changed as the lock was taken)';
        source = await chooseSource(input, undefined);
        progress.sourceNode = source.node.name;
        progress.step = 'streaming pg_basebackup to storage';
        up = await stream();
      }
      const { verifyBaseBackup } = nodeActivities(source.node.name, source.node.taskQueue, longTool);

      // 4. Verify what was stored, not what was sent.
      let verification = null;
      if (input.verify) {
        progress.step = 'verifying the stored backup';
        verification = await verifyBaseBackup({
          backupId: id,
          objectName: up.objectName,
          sha256: up.sha256,
          compression: up.compression,
          ...(up.tablespaces ? { tablespaces: up.tablespaces } : {}),
          ...(up.manifestObject ? { manifestObject: up.manifestObject } : {}),
        });
      }

      // 5. The manifest, last: only now does the backup exist in the catalog. The base archive
      //    first; with tablespaces, each one's archive and pg_basebackup's backup_manifest.
      progress.step = 'writing the manifest';
      const objects = [
        { name: up.objectName, bytes: up.bytes, sha256: up.sha256 },
        ...(up.tablespaces ?? []).flatMap((t) => (t.object ? [t.object] : [])),
        ...(up.manifestObject ? [up.manifestObject] : []),
      ];
      const ok = verification?.ok ?? true;
      manifest = {
        formatVersion: 1,
        id,
        cluster: input.cluster,
        method: 'basebackup',
        type,
        parent: null,
        status: ok ? 'good' : 'failed',
        systemIdentifier: source.probe.systemIdentifier,
        pgVersion: source.probe.serverVersion,
        timeline: up.timeline,
        startLsn: up.startLsn,
        stopLsn: up.stopLsn,
        startWalSegment: walSegmentName(up.timeline, up.startLsn, source.probe.segmentBytes),
        startTime: up.startTime,
        stopTime: up.stopTime,
        sourceNode: source.node.name,
        compression: up.compression,
        bytes: objects.reduce((n, o) => n + o.bytes, 0),
        objects,
        verification,
        workflowId: workflowInfo().workflowId,
        createdAt: new Date().toISOString(),
        ...(up.tablespaces ? { tablespaces: up.tablespaces } : {}),
        ...(up.encryption ? { encryption: up.encryption } : {}),
      };
    }
    // The cluster's WAL segment size (absent from probes recorded before it was read).
    if (source.probe.segmentBytes) manifest.segmentBytes = source.probe.segmentBytes;
    await writeManifest({ manifest });
    if (manifest.status !== 'good')
      throw toApplicationFailure(
        new BackupVerificationError(input.cluster, manifest.id, manifest.verification?.detail ?? 'pgBackRest reports errors in the backup'),
      );

    // 6. Retention, still holding the lock.
    let expired: ExpireResult | null = null;
    if (input.expire !== false) {
      progress.step = 'applying retention';
      expired = await expireInsideLock({
        cluster: input.cluster,
        method: input.method,
        dryRun: false,
        retention: input.retention,
        nodes: input.nodes,
      });
    }
    // 7. The offsite copy. basebackup: copyBackup, started, not awaited (it runs outside the lock
    //    and outlives this run). pgbackrest: a backup of the same type into repo2, still holding
    //    the lock (pgBackRest takes one backup per stanza at a time); its failure leaves this
    //    backup good and the copy schedule to catch up.
    let copy: BackupResult['copy'];
    if (input.copyToSecondary && input.method === 'pgbackrest') {
      progress.step = 'backing up into the secondary repository (pgBackRest repo2)';
      copy = await secondaryBackup(input, manifest, source);
    } else if (input.copyToSecondary) {
      progress.step = 'starting the copy to the secondary';
      copy = await startCopy(input.cluster, manifest.id);
    }
    progress.step = 'done';
    return { manifest, expired, ...(copy ? { copy } : {}) };
  });
}

/**
 * The source node, from probes made while the lock started when there are any; a probe that found
 * no source then (a switchover ending) is not the last word: the nodes are probed again inside the lock.
 */
async function chooseSource(input: BackupInput, early: Promise<ProbeOutcome[]> | undefined): Promise<ReturnType<typeof pickSource>> {
  if (early) {
    const probes = await early;
    try {
      return pickSource(input.cluster, input.from, probes);
    } catch {
      // No source among probes made before the lock was ours: judge only by probes inside it.
    }
  }
  return pickSource(input.cluster, input.from, await probeNodes(input.cluster, input.nodes));
}

/** The streaming activity refused: the node is no longer the role it was chosen for. */
function sourceChanged(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'BackupSourceChangedError';
}

async function secondaryBackup(
  input: BackupInput,
  primary: BackupManifest,
  source: Parameters<typeof backupIntoSecondary>[4],
): Promise<NonNullable<BackupResult['copy']>> {
  try {
    const made = await backupIntoSecondary(input.cluster, primary.id, primary.type, input.verify, source);
    if ('skipped' in made) return { skipped: `${made.skipped}; the copy schedule catches up` };
    return { secondary: { id: made.manifest.id, pgbackrestLabel: made.manifest.pgbackrestLabel! } };
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { skipped: `the backup into the secondary failed: ${rootMessage(err)}; the copy schedule catches up` };
  }
}

async function startCopy(cluster: string, backupId: string): Promise<NonNullable<BackupResult['copy']>> {
  const workflowId = `copyBackup/${cluster}/after-${backupId}`;
  try {
    await startChild(copyBackup, {
      workflowId,
      args: [{ cluster, verify: false, trigger: `backup:${backupId}` }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: PgdrCluster, value: cluster },
        { key: PgdrProcedure, value: 'copyBackup' },
      ],
      ...childSummary('copyBackup', cluster, {}),
    });
    return { workflowId };
  } catch (err) {
    // Started already (a retried workflow task): that run copies this backup.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId };
    if (isCancellation(err)) throw err;
    return { skipped: `the copy could not start: ${(err as Error).message}; the copy schedule catches up` };
  }
}
