/**
 * The pgbackrest method's two repositories: a backup pgBackRest took, recorded as a pgdr
 * manifest, and the backup into the secondary (pgBackRest's repo2). pgBackRest cannot copy a set
 * between repositories, so the secondary gets a backup of its own, taken from the same node right
 * after the primary's and recorded in the secondary's catalog under the same pgdr id, with its
 * own label, LSNs and times. Shared by backup and copyBackup.
 */
import { workflowInfo } from '@temporalio/workflow';
import type { BackupManifest, BackupType } from '../domain/catalog.js';
import type { NodeProbe } from '../domain/status.js';
import { NoBackupSourceError, toApplicationFailure } from '../domain/errors.js';
import type { PgbackrestBackupResult } from '../adapters/pgbackrest.js';
import { longTool, storageOp } from './profiles.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import type { NodeAgent, ProbeOutcome } from './probe.js';

/** The node a backup is taken from: the primary, or a streaming standby (`from`). */
export function pickSource(cluster: string, from: 'primary' | 'standby', probes: ProbeOutcome[]): { node: NodeAgent; probe: NodeProbe } {
  const wanted = (p: NodeProbe) =>
    from === 'primary' ? p.role === 'primary' : p.role === 'standby' && p.walReceiver?.status === 'streaming';
  const hit = probes.find((p) => p.probe && wanted(p.probe));
  if (hit?.probe) return { node: hit.node, probe: hit.probe };
  const seen = probes.map((p) => `${p.node.name}=${p.probe ? p.probe.role : `unreachable (${p.error})`}`).join(', ');
  throw toApplicationFailure(new NoBackupSourceError(cluster, from, seen));
}

/** The pgdr manifest of a set pgBackRest took (in the repository the activity ran on). */
export function pgbackrestManifest(
  cluster: string,
  id: string,
  r: PgbackrestBackupResult,
  source: { node: NodeAgent; probe: NodeProbe },
): BackupManifest {
  const b = r.backup;
  return {
    formatVersion: 1,
    id,
    cluster,
    method: 'pgbackrest',
    type: b.type,
    parent: b.type === 'full' ? null : r.parentId,
    status: (r.verification?.ok ?? true) && !b.error ? 'good' : 'failed',
    systemIdentifier: r.systemId || source.probe.systemIdentifier,
    pgVersion: source.probe.serverVersion,
    timeline: parseInt(b.archiveStart.slice(0, 8), 16),
    startLsn: b.startLsn,
    stopLsn: b.stopLsn,
    startWalSegment: b.archiveStart,
    startTime: b.startTime,
    stopTime: b.stopTime,
    sourceNode: source.node.name,
    compression: r.compression,
    bytes: b.repoBytes,
    objects: [],
    verification: r.verification,
    workflowId: workflowInfo().workflowId,
    createdAt: new Date().toISOString(),
    pgbackrestLabel: b.label,
    ...(r.tablespaces ? { tablespaces: r.tablespaces } : {}),
    ...(source.probe.segmentBytes ? { segmentBytes: source.probe.segmentBytes } : {}),
  };
}

/**
 * A backup of `type` into the secondary repository from `source`, recorded there as backup `id`
 * (the primary's backup it follows) only when it is good: a failed set gets no manifest, so the
 * copy schedule takes another. Run holding the cluster lock (pgBackRest takes one backup per
 * stanza at a time), and only once the secondary's bucket answers: an outage there must not hold
 * the lock for the storage wait. pgBackRest takes a full when the secondary has nothing to build on.
 */
export async function backupIntoSecondary(
  cluster: string,
  id: string,
  type: BackupType,
  verify: boolean,
  source: { node: NodeAgent; probe: NodeProbe },
): Promise<{ manifest: BackupManifest } | { skipped: string }> {
  const { secondaryUnreachable } = controlActivities(storageOp);
  const down = await secondaryUnreachable({ cluster });
  if (down !== null) return { skipped: `the secondary storage is unavailable (${down})` };
  const { pgbackrestBackup } = nodeActivities(source.node.name, source.node.taskQueue, longTool, 'secondary');
  const manifest = pgbackrestManifest(cluster, id, await pgbackrestBackup({ type, verify }), source);
  if (manifest.status !== 'good')
    return {
      skipped: `the backup into the secondary (set ${manifest.pgbackrestLabel}) failed verification: ${manifest.verification?.detail ?? 'pgBackRest reports errors in it'}`,
    };
  await controlActivities(storageOp, 'secondary').writeManifest({ manifest });
  return { manifest };
}
