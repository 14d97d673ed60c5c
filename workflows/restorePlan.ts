/**
 * The restore pre-flight, shared by restorePreflight (the API's read-only check) and
 * pitrRestore (which runs it again before touching anything). Facts come from S3 (catalog,
 * archive continuity), from WAL itself (pg_waldump on the destination node) and from the
 * destination; `judgeRestore` turns them into a plan or into problems.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { chooseBackup, judgeRestore, lastReadableSegment, type ArchiveFacts, type DestinationFacts, type RestorePlan, type RestoreRequest } from '../common/restore.js';
import { DEFAULT_SEGMENT_BYTES, segmentNumber } from '../common/wal.js';

/** Most archived segments the pre-flight reads with pg_waldump looking for the newest commit. */
const SCAN_LIMIT = 1024;
import { nodeTask, storageOp } from './profiles.js';

export interface PlanOutcome {
  plan: RestorePlan | null;
  problems: string[];
  destination: DestinationFacts;
  lastCommit: { lsn: string; time: string } | null;
}

/**
 * `claim.claimFor`: the workflow id of the restore that will use the destination's port; the
 * port is then claimed for it on the destination's host (one owner per port). With
 * `claim.autoPort` a port given earlier (the API's pre-flight) may be traded for another.
 */
export async function planRestore(request: RestoreRequest, destinationQueue: string, claim: { claimFor?: string; autoPort?: boolean } = {}): Promise<PlanOutcome> {
  const { walContinuity } = proxyActivities<Activities>(storageOp);
  const node = proxyActivities<Activities>({ ...nodeTask, taskQueue: destinationQueue });
  const cluster = request.cluster;

  // 1. The catalog and the archive: good backups, the newest timeline, missing segments.
  const facts = await walContinuity({ cluster, timeline: null, segmentBytes: DEFAULT_SEGMENT_BYTES });
  const archive: ArchiveFacts = {
    timeline: facts.timeline,
    lastSegment: facts.continuity.lastSegment,
    missing: facts.continuity.missing,
    missingHistory: facts.continuity.missingHistory,
  };

  // 2. The newest commit recovery can reach from the backup it would start from (and, for a
  //    named target, where that restore point is).
  const first = 'name' in request.target ? null : chooseBackup(request.target, facts.backups, request.backupId);
  const from = first && 'backup' in first ? first.backup : facts.backups.at(-1);
  const lastSegment = from ? lastReadableSegment(from, archive) : archive.lastSegment;
  const scan = lastSegment
    ? await node.scanArchive({
        cluster,
        node: request.destination.node,
        lastSegment,
        segmentBytes: DEFAULT_SEGMENT_BYTES,
        ...('name' in request.target ? { restorePoint: request.target.name } : {}),
        // Back to the backup's start at most: an idle cluster's newest commit may lie many
        // (switched, nearly empty) segments back, and "latest" must not miss it.
        ...(from ? { firstSegment: from.startWalSegment, lookBack: Math.min(SCAN_LIMIT, segmentNumber(lastSegment) - segmentNumber(from.startWalSegment) + 1) } : {}),
      })
    : { lastCommit: null, restorePoint: null, scanned: 0 };

  // 3. The destination as it is now.
  const destination = await node.inspectDestination({ cluster, node: request.destination.node, dataDir: request.destination.dataDir, port: request.destination.port, ...claim });

  // 4. Judge.
  const lastCommit = scan.lastCommit ? { lsn: scan.lastCommit.lsn, time: scan.lastCommit.time } : null;
  const verdict = judgeRestore({
    request: { ...request, destination: { ...request.destination, port: destination.port } },
    backups: facts.backups,
    archive,
    lastCommit,
    restorePoint: scan.restorePoint,
    destination,
    now: new Date(),
  });
  return { plan: verdict.plan, problems: verdict.problems, destination, lastCommit };
}
