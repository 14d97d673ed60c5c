/**
 * The restore pre-flight, shared by restorePreflight (the read-only dry run) and
 * pitrRestore (which runs it once, before touching anything). Facts come from S3 (catalog,
 * archive continuity), from WAL itself (pg_waldump on the destination node) and from the
 * destination; `judgeRestore` turns them into a plan or into problems.
 */
import { patched } from '@temporalio/workflow';
import {
  chooseBackup,
  judgeRestore,
  lastReadableSegment,
  type ArchiveFacts,
  type DestinationFacts,
  type RestorePlan,
  type RestoreRequest,
} from '../domain/restore.js';
import { DEFAULT_SEGMENT_BYTES, segmentNumber, timelineSpans } from '../domain/wal.js';
import { childrenOf, onBranch, resolveTimeline, xid32, xidProblem } from '../domain/timelines.js';
import { currentPrimary } from '../domain/walCheck.js';
import { probeNodes, type NodeAgent } from './probe.js';
import { planTablespaces } from './restoreTablespaces.js';

/** Most archived segments the pre-flight reads with pg_waldump looking for the newest commit. */
const SCAN_LIMIT = 1024;
import { nodeTask, storageOp } from './profiles.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import type { Repository, RepositoryChoice } from '../config/repositories.js';

/**
 * The repository a procedure reads: primary (also when none is asked: no activity, so histories
 * from before repositories replay), secondary, or for auto the control worker's choice.
 */
export async function resolveRepository(choice: RepositoryChoice | undefined): Promise<{ repository: Repository; note: string | null }> {
  if (choice === undefined || choice === 'primary') return { repository: 'primary', note: null };
  if (choice === 'secondary') return { repository: 'secondary', note: 'read from the secondary repository, as asked' };
  return controlActivities(storageOp).chooseRepository({ choice });
}

export interface PlanOutcome {
  plan: RestorePlan | null;
  problems: string[];
  destination: DestinationFacts;
  lastCommit: { lsn: string; time: string } | null;
}

/**
 * `nodes`: the cluster's nodes, to follow the current primary's timeline (absent in inputs
 * recorded before that: the newest timeline in the archive is followed).
 * `claim.claimFor`: the workflow id of the restore that will use the destination's port; the
 * port is then claimed for it on the destination's host (one owner per port). With
 * `claim.autoPort` a port given earlier (the API's pre-flight) may be traded for another.
 * `claim.repository`: the repository whose catalog and WAL the plan reads (default: the primary).
 */
export async function planRestore(
  request: RestoreRequest,
  destinationQueue: string,
  nodes?: NodeAgent[],
  claim: { claimFor?: string; autoPort?: boolean; repository?: Repository } = {},
): Promise<PlanOutcome> {
  const { walContinuity } = controlActivities(storageOp, claim.repository);
  const node = nodeActivities(request.destination.node, destinationQueue, nodeTask, claim.repository);
  const cluster = request.cluster;

  // 0. The current primary's timeline: the newest one in the archive may be a standby promoted
  //    by hand (split brain). (patched: histories recorded before this replay without the probe.)
  let primary: { timeline: number | null; note: string | null } = { timeline: null, note: null };
  // The node that is the cluster's primary now (null: none answers; undefined: not probed).
  let primaryNode: string | null | undefined;
  // The live primary's WAL segment size; without one, the backups' or the archive's.
  let serverSegmentBytes: number | null = null;
  if (nodes && patched('restore-follows-primary-timeline')) {
    const probes = await probeNodes(cluster, nodes);
    const chosen = currentPrimary(
      probes.map((p) => ({ name: p.node.name, ...(p.probe ? { probe: p.probe } : {}), ...(p.error ? { error: p.error } : {}) })),
    );
    primaryNode = chosen.name;
    serverSegmentBytes = probes.find((p) => p.node.name === chosen.name)?.probe?.segmentBytes ?? null;
    primary =
      chosen.name === null
        ? { timeline: null, note: `following the newest timeline in the archive: ${chosen.problem}` }
        : { timeline: chosen.timeline, note: chosen.note };
  }

  // 1. The catalog and the archive: good backups, the followed timeline, missing segments. A
  //    timeline asked for is followed instead ('current': the backup's; 'latest': the newest).
  const requested = request.timeline;
  const follow = requested === undefined ? primary.timeline : typeof requested === 'number' ? requested : null;
  let facts = await walContinuity({ cluster, timeline: follow, segmentBytes: serverSegmentBytes });
  let timelineProblem: string | null = null;
  if (requested !== undefined) {
    const pick = request.backupId ? facts.backups.find((b) => b.id === request.backupId) : facts.backups.at(-1);
    const resolved = resolveTimeline(requested, {
      newest: facts.newestTimeline,
      branches: facts.branches,
      backupTimeline: pick?.timeline ?? null,
    });
    if ('problem' in resolved) timelineProblem = resolved.problem;
    else if (resolved.timeline !== facts.timeline)
      facts = await walContinuity({ cluster, timeline: resolved.timeline, segmentBytes: serverSegmentBytes });
  }
  // (Absent from continuity results recorded before the size was resolved: 16 MiB was assumed.)
  const segmentBytes = facts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const archive: ArchiveFacts = {
    timeline: facts.timeline,
    lastSegment: facts.continuity.lastSegment,
    missing: facts.continuity.missing,
    missingHistory: facts.continuity.missingHistory,
    // Absent in activity results recorded before the newest timeline was reported.
    ...(facts.newestTimeline !== undefined ? { newestTimeline: facts.newestTimeline } : {}),
    source: primary.timeline === null ? 'newest' : 'primary',
    note: primary.note,
    ...(requested !== undefined
      ? { requested, children: childrenOf(facts.timeline, facts.branches), ...(timelineProblem ? { timelineProblem } : {}) }
      : {}),
  };
  // A backup taken on a foreign timeline cannot recover along the followed one; along a branch
  // asked for, nor can one taken on an ancestor after the branch left it.
  const chain = new Set([facts.timeline, ...facts.history.map((h) => h.timeline)]);
  const spans = timelineSpans(facts.timeline, facts.history);
  const backups =
    requested !== undefined
      ? timelineProblem
        ? []
        : facts.backups.filter((b) => onBranch(b, spans))
      : primary.timeline === null
        ? facts.backups
        : facts.backups.filter((b) => chain.has(b.timeline));

  // 2. The newest commit recovery can reach from the backup it would start from (and, for a
  //    named target, where that restore point is).
  //    An xid target is looked for from the oldest backup on: it places the xid, and so the backup.
  const t = request.target;
  const xid = 'xid' in t && !xidProblem(t.xid) ? xid32(t.xid) : undefined;
  const first = 'name' in t || 'xid' in t ? null : chooseBackup(t, backups, request.backupId);
  const from = first && 'backup' in first ? first.backup : backups.at(-1);
  const floor = xid !== undefined ? backups[0] : from;
  const lastSegment = from ? lastReadableSegment(from, archive, segmentBytes) : archive.lastSegment;
  const span = lastSegment && floor ? segmentNumber(lastSegment, segmentBytes) - segmentNumber(floor.startWalSegment, segmentBytes) + 1 : 0;
  const scan = lastSegment
    ? await node.scanArchive({
        lastSegment,
        segmentBytes,
        ...('name' in t ? { restorePoint: t.name } : {}),
        ...(xid !== undefined ? { xid } : {}),
        ...(requested !== undefined ? { history: facts.history } : {}),
        // Back to the backup's start at most: an idle cluster's newest commit may lie many
        // (switched, nearly empty) segments back, and "latest" must not miss it.
        ...(floor ? { firstSegment: floor.startWalSegment, lookBack: Math.min(SCAN_LIMIT, span) } : {}),
      })
    : { lastCommit: null, restorePoint: null, xact: null, scanned: 0 };

  // 3. The destination as it is now.
  //    Its tools must be of the backup's major version (checked there, before anything is created).
  const destination = await node.inspectDestination({
    dataDir: request.destination.dataDir,
    port: request.destination.port,
    ...claim,
    ...(from?.pgVersion ? { backup: { id: from.id, pgVersion: from.pgVersion } } : {}),
  });

  // 4. Judge.
  const lastCommit = scan.lastCommit ? { lsn: scan.lastCommit.lsn, time: scan.lastCommit.time } : null;
  const verdict = judgeRestore({
    request: { ...request, destination: { ...request.destination, port: destination.port } },
    backups,
    archive,
    lastCommit,
    restorePoint: scan.restorePoint,
    ...(xid !== undefined
      ? {
          xact: scan.xact ? { lsn: scan.xact.lsn, time: scan.xact.time, kind: scan.xact.kind } : null,
          ...(lastSegment && floor
            ? { xactSearch: { firstSegment: floor.startWalSegment, lastSegment, complete: scan.scanned >= span } }
            : {}),
        }
      : {}),
    destination,
    segmentBytes,
    ...(primaryNode !== undefined ? { currentPrimary: primaryNode } : {}),
    now: new Date(),
  });
  // 5. Where the backup's tablespaces go (only asked when it has any, or the request maps some).
  const judged = await planTablespaces(request, verdict, destination, node);
  return { plan: judged.plan, problems: judged.problems, destination, lastCommit };
}
