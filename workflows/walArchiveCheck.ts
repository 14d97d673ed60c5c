/**
 * walArchiveCheck: is the WAL archive whole and current? Read-only (apart from one forced
 * segment switch), so it takes no cluster lock. It checks pg_stat_archiver, a round trip
 * (pg_switch_wal, then that segment must appear in S3), continuity from the oldest kept
 * backup with a .history file per timeline switch, the archive lag (the achieved RPO), and
 * split brain: a timeline that kept advancing after another branched off it.
 * The result is stored in S3 either way; an unhealthy archive fails the workflow, red in the UI.
 */
import { defineQuery, isCancellation, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { WalArchiveUnhealthyError, toApplicationFailure } from '../domain/errors.js';
import { currentPrimary, judgeForks, judgeWalArchive, recoveryWindow, type WalCheckResult } from '../domain/walCheck.js';
import { DEFAULT_SEGMENT_BYTES } from '../domain/wal.js';
import { branchWindows } from '../domain/timelines.js';
import { awaitStorage, nodeTask, storageOp } from './profiles.js';
import { showSteps } from './uiDetails.js';
import { probeNodes, rootMessage, type NodeAgent } from './probe.js';
import { controlActivities, nodeActivities } from './activityProxies.js';

export interface WalCheckInput {
  cluster: string;
  nodes: NodeAgent[];
  roundTripTimeoutSeconds: number;
  maxLagSegments: number;
  maxArchiveAgeMinutes: number;
  /** Skip the forced segment switch (e.g. a read-only look). Default false. */
  skipRoundTrip?: boolean;
  /** List the whole archive and rebuild the index (else only what is new, with a full listing at least daily). */
  fullListing?: boolean;
  trigger: string;
}

/** The least time the primary's archiver gets to report the round trip's segment, however long S3 took. */
const ARCHIVER_MIN_WAIT_SECONDS = 5;

export const walCheckProgressQuery = defineQuery<{ step: string }>('progress');

export async function walArchiveCheck(input: WalCheckInput): Promise<WalCheckResult> {
  const progress = { step: 'probing nodes' };
  showSteps(progress);
  setHandler(walCheckProgressQuery, () => progress);
  const { awaitArchived } = controlActivities(awaitStorage);
  const { walContinuity, readWalCheck, storeWalCheck } = controlActivities(storageOp);
  const started = workflowInfo().startTime;

  const result: WalCheckResult = {
    formatVersion: 1,
    cluster: input.cluster,
    workflowId: workflowInfo().workflowId,
    checkedAt: started.toISOString(),
    healthy: false,
    problems: [],
    warnings: [],
    primary: null,
    timeline: null,
    archiveMode: null,
    archiver: null,
    failedSincePrevious: null,
    roundTrip: null,
    continuity: null,
    lag: null,
    window: [],
  };
  const previous = await readWalCheck({ cluster: input.cluster });

  // 1. The primary, and its archiver as it stands.
  const probes = await probeNodes(input.cluster, input.nodes);
  // (patched: histories recorded before the split-brain check replay the old choice.)
  const forks = patched('wal-check-timeline-forks');
  const primaries = probes.filter((p) => p.probe?.role === 'primary');
  const chosen = currentPrimary(
    probes.map((p) => ({ name: p.node.name, ...(p.probe ? { probe: p.probe } : {}), ...(p.error ? { error: p.error } : {}) })),
  );
  if (forks) {
    if (chosen.name === null) {
      // No primary to follow: the archive can still show two timelines advancing at once.
      result.problems.push(chosen.problem);
      const facts = await walContinuity({ cluster: input.cluster, timeline: null, segmentBytes: null, listing: listingOf(input) });
      result.branches = facts.branches;
      if (facts.listing) result.listing = facts.listing;
      if (facts.segmentBytes) result.segmentBytes = facts.segmentBytes;
      result.problems.push(...judgeForks(facts.branches, null));
      return finish(result, storeWalCheck);
    }
    // Two read-write servers are a problem even when the standbys say which one is the primary.
    if (chosen.note) result.problems.push(chosen.note);
  } else if (primaries.length !== 1) {
    result.problems.push(
      primaries.length === 0
        ? `no reachable primary: ${probes.map((p) => `${p.node.name}: ${p.error ?? p.probe?.role}`).join('; ')}`
        : `more than one primary: ${primaries.map((p) => p.node.name).join(', ')}`,
    );
    return finish(result, storeWalCheck);
  }
  const primary = forks ? probes.find((p) => p.node.name === chosen.name)! : primaries[0]!;
  result.primary = primary.node.name;
  const node = nodeActivities(primary.node.name, primary.node.taskQueue, nodeTask);

  // 2. Round trip: close a segment, then wait for exactly that one in S3.
  // The server's segment size (probes and switches recorded before it was read lack it).
  let serverSegmentBytes = primary.probe!.segmentBytes ?? null;
  if (!input.skipRoundTrip && primary.probe!.archiveMode !== 'off') {
    progress.step = 'switching WAL and waiting for the segment in S3';
    const sw = await node.switchWal();
    serverSegmentBytes ??= sw.segmentBytes ?? null;
    const seen = await awaitArchived({ cluster: input.cluster, name: sw.segment, timeoutSeconds: input.roundTripTimeoutSeconds });
    result.roundTrip = { segment: sw.segment, ok: seen.ok, seconds: Math.round(seen.seconds * 10) / 10 };
    // The agent's archiver can put the segment in S3 ahead of Postgres's own archive_command:
    // give the primary's archiver the rest of the time to report it, so the archiver read next
    // shows whether archive_command works now (a check right after a fix saw the old failure).
    // (patched: histories recorded before this step replay without it.)
    if (seen.ok && patched('wal-check-archiver-reported')) {
      progress.step = `waiting for the archiver of ${primary.node.name} to report ${sw.segment}`;
      const left = Math.max(ARCHIVER_MIN_WAIT_SECONDS, input.roundTripTimeoutSeconds - Math.ceil(seen.seconds));
      try {
        const reported = await node.awaitArchiverReported({ segment: sw.segment, timeoutSeconds: left });
        result.roundTrip.archiverSeconds = reported.ok ? Math.round(reported.seconds * 10) / 10 : null;
        if (!reported.ok && reported.progressed) result.roundTrip.archiverProgressing = true;
      } catch (err) {
        // Only this part of the check is lost: the rest goes on, and says so.
        if (isCancellation(err)) throw err;
        result.warnings.push(`could not read ${primary.node.name}'s archiver after the round trip: ${rootMessage(err)}`);
      }
    }
  }

  // 3. The archiver again, now that the switch had its chance.
  progress.step = 'reading the archiver';
  const after = (await probeNodes(input.cluster, [primary.node]))[0]!;
  const probe = after.probe ?? primary.probe!;
  result.timeline = probe.timeline;
  result.archiveMode = probe.archiveMode;
  result.archiver = probe.archiver;

  // 4. Continuity from the oldest kept backup to the newest archived segment.
  progress.step = 'checking continuity';
  const facts = await walContinuity({
    cluster: input.cluster,
    timeline: probe.timeline,
    segmentBytes: serverSegmentBytes,
    listing: listingOf(input),
  });
  const segmentBytes = facts.segmentBytes ?? serverSegmentBytes ?? DEFAULT_SEGMENT_BYTES;
  result.continuity = facts.continuity;
  if (facts.listing) result.listing = facts.listing;
  if (forks) result.branches = facts.branches;

  // 5. The newest archived commit: the latest point a restore can reach.
  progress.step = 'reading the last archived commit';
  // Read on the primary's host: one that cannot read the archive is a finding, not a crash of the check.
  let lastCommit: Awaited<ReturnType<typeof node.lastArchivedCommit>> = null;
  if (facts.continuity.lastSegment) {
    try {
      lastCommit = await node.lastArchivedCommit({ lastSegment: facts.continuity.lastSegment, segmentBytes });
    } catch (err) {
      if (isCancellation(err)) throw err;
      result.problems.push(
        `the primary's host (${primary.node.name}) could not read the archive's newest segment ${facts.continuity.lastSegment}: ${rootMessage(err)}`,
      );
    }
  }
  result.segmentBytes = segmentBytes;
  result.window = recoveryWindow({
    timeline: probe.timeline,
    history: facts.history,
    backups: facts.backups,
    lastCommit,
    lastSegment: facts.continuity.lastSegment,
    missing: facts.continuity.missing,
    segmentBytes,
  });
  // Every timeline, each along its own branch: what a restore asking for it (timeline: N) can reach.
  if (facts.newestSegments)
    result.branchWindows = branchWindows({
      current: probe.timeline,
      branches: facts.branches,
      newestSegments: facts.newestSegments,
      backups: facts.backups,
      lastCommit,
      segmentBytes,
    });

  // 6. Judge.
  const verdict = judgeWalArchive({
    archiveMode: probe.archiveMode,
    archiver: probe.archiver,
    previousFailedCount: previous?.archiver?.failedCount ?? null,
    roundTrip: result.roundTrip,
    roundTripTimeoutSeconds: input.roundTripTimeoutSeconds,
    continuity: facts.continuity,
    currentLsn: probe.currentLsn,
    segmentBytes,
    maxLagSegments: input.maxLagSegments,
    maxArchiveAgeMinutes: input.maxArchiveAgeMinutes,
    now: new Date(),
    ...(forks ? { branches: facts.branches, currentTimeline: probe.timeline } : {}),
  });
  result.problems.push(...verdict.problems);
  result.warnings.push(...verdict.warnings);
  result.lag = verdict.lag;
  result.failedSincePrevious = verdict.failedSincePrevious;
  return finish(result, storeWalCheck);
}

/** The check lists what is new since its index; a full listing when asked (or due: the activity decides). */
const listingOf = (input: WalCheckInput) => (input.fullListing ? 'full' : 'incremental');

async function finish(result: WalCheckResult, store: (input: { result: WalCheckResult }) => Promise<void>): Promise<WalCheckResult> {
  result.healthy = result.problems.length === 0;
  await store({ result });
  if (!result.healthy) throw toApplicationFailure(new WalArchiveUnhealthyError(result.cluster, result.problems));
  return result;
}
