/**
 * The WAL archive check's result and how it is judged. Pure and workflow-safe: the workflow
 * gathers facts with activities, then `judgeWalArchive` turns them into problems (red) and
 * warnings, in plain words that name the segment concerned.
 */
import type { WalListing } from './walIndex.js';
import type { ArchiverStats, NodeProbe } from './status.js';
import { segmentNumber, segmentOfLsn, segmentEndLsn, timelineSpans, DEFAULT_SEGMENT_BYTES, type HistoryEntry } from './wal.js';
import { formatLsn, lsnDiff } from './lsn.js';
import { historyFileName } from './naming.js';
import { firstGapAfter, windowBackups } from './restore.js';
import type { BranchWindow } from './timelines.js';

export interface ContinuityReport {
  /** The oldest kept good backup the chain starts from; null when there is no good backup. */
  fromBackup: string | null;
  fromTimeline: number | null;
  fromSegment: string | null;
  /** Newest segment on the current timeline found in the archive. */
  lastSegment: string | null;
  expected: number;
  missingCount: number;
  /** The first missing segments, in order (capped). */
  missing: string[];
  missingHistory: string[];
  offChain: boolean;
  archivedObjects: number;
}

export interface RecoveryPoint {
  lsn: string;
  /** Commit time; null when not known for this point. */
  time: string | null;
  backupId?: string;
}

export interface TimelineWindow {
  timeline: number;
  /** Earliest point a restore can reach: the stop of the window's first good backup on this timeline (see windowBackups). */
  earliest: RecoveryPoint | null;
  /** Latest point: the last archived commit (current timeline) or the switch point (older ones). */
  latest: RecoveryPoint | null;
}

export interface WalCheckResult {
  formatVersion: 1;
  cluster: string;
  workflowId: string;
  checkedAt: string;
  healthy: boolean;
  problems: string[];
  warnings: string[];
  primary: string | null;
  timeline: number | null;
  archiveMode: string | null;
  archiver: ArchiverStats | null;
  /** Increase of pg_stat_archiver.failed_count since the previous check (null: no previous). */
  failedSincePrevious: number | null;
  /**
   * The segment pg_switch_wal closed, whether it reached S3 and how long it took; archiverSeconds:
   * how much longer until the primary's archiver reported it (null: not within the round trip's
   * time; absent in checks stored before it was measured, or when the archiver could not be
   * read); archiverProgressing: not in time, but it reported newer segments meanwhile (behind).
   */
  roundTrip: { segment: string; ok: boolean; seconds: number; archiverSeconds?: number | null; archiverProgressing?: boolean } | null;
  continuity: ContinuityReport | null;
  lag: { bytes: number; segments: number; seconds: number } | null;
  window: TimelineWindow[];
  /** Every timeline in the archive with what a restore asking for it can reach (absent in checks stored before). */
  branchWindows?: BranchWindow[];
  /** Every timeline switch in the archive, with the parent's segments archived after it (split brain). */
  branches?: TimelineBranch[];
  /** When retention last recomputed `window` after expiring backups (absent: as of checkedAt). */
  windowAsOf?: string;
  /** WAL segment size the check used (absent in results stored before it was recorded). */
  segmentBytes?: number;
  /** How the archive was listed: only what is new since the last check, or in full (absent in results stored before). */
  listing?: WalListing;
}

export interface WalFacts {
  archiveMode: string | null;
  archiver: ArchiverStats | null;
  previousFailedCount: number | null;
  roundTrip: WalCheckResult['roundTrip'];
  roundTripTimeoutSeconds: number;
  continuity: ContinuityReport | null;
  currentLsn: string | null;
  segmentBytes: number;
  maxLagSegments: number;
  maxArchiveAgeMinutes: number;
  now: Date;
  /** The archive's timeline switches (absent in checks recorded before they were gathered). */
  branches?: TimelineBranch[];
  /** The current primary's timeline, when one primary is known. */
  currentTimeline?: number | null;
}

/** Bytes, whole segments and seconds of WAL written but not yet archived: the achieved RPO. */
export function archiveLag(f: Pick<WalFacts, 'archiver' | 'continuity' | 'currentLsn' | 'segmentBytes' | 'now'>): WalCheckResult['lag'] {
  if (!f.currentLsn) return null;
  const seg = f.segmentBytes || DEFAULT_SEGMENT_BYTES;
  const archived = [f.continuity?.lastSegment, segmentPart(f.archiver?.lastArchivedWal ?? null)]
    .filter((n): n is string => !!n)
    .map((n) => segmentNumber(n, seg));
  if (archived.length === 0) return null;
  const last = Math.max(...archived);
  const bytes = Math.max(0, lsnDiff(f.currentLsn, segmentEndLsn(last, seg)));
  const segments = Math.max(0, segmentOfLsn(f.currentLsn, seg) - last - 1);
  const lastAt = f.archiver?.lastArchivedAt ? Date.parse(f.archiver.lastArchivedAt) : null;
  const seconds = bytes > 0 && lastAt !== null ? Math.max(0, Math.round((f.now.getTime() - lastAt) / 1000)) : 0;
  return { bytes, segments, seconds };
}

/** The segment part of an archived name (segments, .partial and .backup files), or null for .history. */
function segmentPart(name: string | null): string | null {
  return name && /^[0-9A-F]{24}/.test(name) ? name.slice(0, 24) : null;
}

export function judgeWalArchive(f: WalFacts): {
  healthy: boolean;
  problems: string[];
  warnings: string[];
  lag: WalCheckResult['lag'];
  failedSincePrevious: number | null;
} {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (f.archiveMode !== null && f.archiveMode === 'off')
    problems.push('archive_mode is off on the primary: no WAL is archived (run pgdr archive enable, then restart)');

  const a = f.archiver;
  const failing = !!a?.lastFailedAt && (!a.lastArchivedAt || Date.parse(a.lastFailedAt) >= Date.parse(a.lastArchivedAt));
  if (a && failing) {
    problems.push(
      `archiving is failing: segment ${a.lastFailedWal} failed at ${a.lastFailedAt}` +
        (a.lastArchivedWal ? `; the last success was ${a.lastArchivedWal} at ${a.lastArchivedAt}` : '; nothing was ever archived') +
        ` (${a.failedCount} failures in all)`,
    );
  }
  const failedSincePrevious = a && f.previousFailedCount !== null ? Math.max(0, a.failedCount - f.previousFailedCount) : null;
  if (failedSincePrevious && problems.length === 0) {
    warnings.push(
      `${failedSincePrevious} archive attempt(s) failed since the previous check (last: ${a?.lastFailedWal} at ${a?.lastFailedAt}); archiving has recovered since`,
    );
  }

  if (f.roundTrip && !f.roundTrip.ok) {
    problems.push(
      `segment ${f.roundTrip.segment} (closed by pg_switch_wal) did not reach the archive within ${f.roundTripTimeoutSeconds} s`,
    );
  } else if (f.roundTrip?.archiverSeconds === null && !failing && f.roundTrip.archiverProgressing) {
    warnings.push(
      `segment ${f.roundTrip.segment} is in the archive, but the primary's archiver had reported only up to ${a?.lastArchivedWal ?? 'none'} within the round trip's time: behind, still archiving`,
    );
  } else if (f.roundTrip?.archiverSeconds === null && !failing) {
    problems.push(
      `segment ${f.roundTrip.segment} is in the archive, but the primary's archiver had not reported it within ${f.roundTripTimeoutSeconds} s ` +
        `(last reported: ${a?.lastArchivedWal ?? 'none'}): archive_command is slow or stuck, and pg_wal keeps every segment until it is reported`,
    );
  }

  const c = f.continuity;
  if (c) {
    if (c.offChain)
      problems.push(
        `the oldest kept backup ${c.fromBackup} is on timeline ${c.fromTimeline}, which is not an ancestor of the current timeline`,
      );
    if (c.missingCount > 0) {
      problems.push(
        `${c.missingCount} WAL segment(s) missing from the archive between ${c.fromSegment} and ${c.lastSegment}; the first missing is ${c.missing[0]}` +
          (c.missingCount > 1 ? ` (also: ${c.missing.slice(1, 5).join(', ')}${c.missingCount > 5 ? ', ...' : ''})` : ''),
      );
    }
    for (const h of c.missingHistory) problems.push(`timeline history file ${h} is missing from the archive`);
    if (!c.fromBackup) warnings.push('no good backup yet: continuity is checked from the oldest archived segment');
    if (!c.lastSegment) problems.push('the archive holds no WAL segment of the current timeline');
  }

  problems.push(...judgeForks(f.branches ?? [], f.currentTimeline ?? null));

  const lag = archiveLag(f);
  if (lag && lag.segments > f.maxLagSegments) {
    problems.push(
      `archive lag is ${lag.segments} segment(s) (${lag.bytes} bytes, ${lag.seconds} s), above the limit of ${f.maxLagSegments}`,
    );
  }
  if (lag && lag.bytes > 0 && a?.lastArchivedAt) {
    const ageMin = (f.now.getTime() - Date.parse(a.lastArchivedAt)) / 60000;
    if (ageMin > f.maxArchiveAgeMinutes)
      problems.push(
        `the last archived segment is ${Math.round(ageMin)} min old while WAL waits to be archived (limit ${f.maxArchiveAgeMinutes} min)`,
      );
  }
  return { healthy: problems.length === 0, problems, warnings, lag, failedSincePrevious };
}

export interface WindowFacts {
  timeline: number;
  history: HistoryEntry[];
  /** Good backups, oldest first. */
  backups: { id: string; timeline: number; startWalSegment: string; stopLsn: string; stopTime: string }[];
  lastCommit: { lsn: string; time: string } | null;
  lastSegment: string | null;
  /** Segments missing from the archive, in order: nothing past a gap is recoverable. */
  missing: string[];
  segmentBytes: number;
}

/**
 * The recoverable window per timeline, oldest first: from the stop of the window's first good
 * backup (windowBackups: the oldest whose WAL reaches as far as the newest's; a restore cannot
 * stop before a backup is consistent) to the last archived commit, or to the switch point for
 * older timelines. A missing segment after that backup cuts the window short there.
 */
export function recoveryWindow(f: WindowFacts): TimelineWindow[] {
  const spans = timelineSpans(f.timeline, f.history);
  const backups = windowBackups(f.backups, f.missing, f.segmentBytes);
  const firstMissing = backups[0] ? firstGapAfter(backups[0], f.missing, f.segmentBytes) : (f.missing[0] ?? null);
  const firstWithBackup = spans.findIndex((s) => backups.some((b) => b.timeline === s.timeline));
  const out: TimelineWindow[] = [];
  let carry: { id: string } | undefined;
  let cut = false;
  for (const span of firstWithBackup < 0 ? spans.slice(-1) : spans.slice(firstWithBackup)) {
    const own = backups.find((b) => b.timeline === span.timeline);
    const earliest: RecoveryPoint | null = own
      ? { lsn: own.stopLsn, time: own.stopTime, backupId: own.id }
      : carry
        ? { lsn: span.beginLsn, time: null, backupId: carry.id }
        : null;
    carry = own ?? carry;
    let latest: RecoveryPoint | null =
      span.endLsn !== null
        ? { lsn: span.endLsn, time: null }
        : f.lastCommit
          ? { lsn: f.lastCommit.lsn, time: f.lastCommit.time }
          : f.lastSegment
            ? { lsn: segmentEndLsn(segmentNumber(f.lastSegment, f.segmentBytes), f.segmentBytes), time: null }
            : null;
    if (cut) latest = null;
    else if (firstMissing && parseInt(firstMissing.slice(0, 8), 16) === span.timeline) {
      // Recovery stops at the start of the missing segment.
      latest = { lsn: formatLsn(BigInt(segmentNumber(firstMissing, f.segmentBytes)) * BigInt(f.segmentBytes)), time: null };
      cut = true;
    }
    out.push({ timeline: span.timeline, earliest, latest: earliest ? latest : null });
  }
  return out;
}

/** An archived WAL file name and when the object store got it (the listing's LastModified). */
export interface ArchivedName {
  name: string;
  lastModified: string | null;
}

/**
 * One timeline switch as the archive shows it: where `timeline` branched off `parent` (the last
 * line of its .history file), when it began (its .history file reached the archive), and whether
 * the parent kept archiving segments from the switch point on after that (two primaries).
 */
export interface TimelineBranch {
  timeline: number;
  parent: number;
  switchLsn: string;
  /** LastModified of the branch's .history file; null when the listing has none. */
  bornAt: string | null;
  /** The branch's newest archived segment (or .partial) and when it was archived. */
  newestSegment: string | null;
  newestAt: string | null;
  /** Parent segments at or past the switch point's segment archived after bornAt; null when none. */
  parentAfter: { count: number; newest: string; newestAt: string } | null;
}

const at = (iso: string | null) => (iso === null ? null : Date.parse(iso));

/**
 * The branches of the archive, one per .history file read. A parent segment at or past the
 * switch point that reached the archive after the branch began means the parent's server kept
 * writing after the branch was promoted; a restore to the past (a branch off an old point)
 * leaves only older parent segments and is no fork.
 */
export function timelineBranches(
  archived: ArchivedName[],
  histories: Record<number, HistoryEntry[]>,
  segmentBytes = DEFAULT_SEGMENT_BYTES,
): TimelineBranch[] {
  const tl = (name: string) => parseInt(name.slice(0, 8), 16);
  const segs = archived.filter((a) => /^[0-9A-F]{24}(\.partial)?$/.test(a.name));
  const out: TimelineBranch[] = [];
  for (const [key, history] of Object.entries(histories).sort(([a], [b]) => Number(a) - Number(b))) {
    const timeline = Number(key);
    const last = history.at(-1);
    if (!last) continue;
    const historyName = historyFileName(timeline);
    const bornAt = archived.find((a) => a.name === historyName)?.lastModified ?? null;
    const own = segs.filter((a) => tl(a.name) === timeline).sort((a, b) => a.name.localeCompare(b.name));
    const switchSeg = segmentOfLsn(last.switchLsn, segmentBytes);
    const born = at(bornAt);
    const after =
      born === null
        ? []
        : segs
            .filter(
              (a) => /^[0-9A-F]{24}$/.test(a.name) && tl(a.name) === last.timeline && segmentNumber(a.name, segmentBytes) >= switchSeg,
            )
            .filter((a) => (at(a.lastModified) ?? 0) > born)
            .sort((a, b) => a.name.localeCompare(b.name));
    out.push({
      timeline,
      parent: last.timeline,
      switchLsn: last.switchLsn,
      bornAt,
      newestSegment: own.at(-1)?.name ?? null,
      newestAt: own.at(-1)?.lastModified ?? null,
      parentAfter: after.length ? { count: after.length, newest: after.at(-1)!.name, newestAt: after.at(-1)!.lastModified! } : null,
    });
  }
  return out;
}

/**
 * Split brain in the archive: a parent timeline that kept advancing after a child branched off
 * it. Each problem names both timelines, the switch point and the newest segment of each; the
 * hint says which one the current primary is on, when that is known.
 */
export function judgeForks(branches: TimelineBranch[], currentTimeline: number | null): string[] {
  return branches
    .filter((b) => b.parentAfter !== null)
    .map((b) => {
      const p = b.parentAfter!;
      const foreign = currentTimeline === b.parent ? b.timeline : currentTimeline === b.timeline ? b.parent : null;
      const hint =
        foreign !== null
          ? `the current primary is on timeline ${currentTimeline}: stop the server on timeline ${foreign}, which is not the primary, and take a new full backup; restores follow timeline ${currentTimeline}`
          : 'find the server clients write to, stop the other one, and take a new full backup';
      return (
        `split brain: timelines ${b.parent} and ${b.timeline} both advanced. timeline ${b.timeline} branched off timeline ${b.parent} at ${b.switchLsn}` +
        ` (its history file archived at ${b.bornAt}), yet ${p.count} segment(s) of timeline ${b.parent} from that switch point on were archived after that,` +
        ` the newest ${p.newest} at ${p.newestAt}; timeline ${b.timeline}'s newest is ${b.newestSegment ?? 'none'}${b.newestAt ? ` at ${b.newestAt}` : ''}. HINT: two primaries archive into this archive; ${hint}`
      );
    });
}

/** A node's probe as the primary's choice needs it. */
export interface PrimaryCandidate {
  name: string;
  probe?: { role: NodeProbe['role']; timeline: number; replication: { state: string }[] };
  error?: string;
}

export type CurrentPrimary = { name: string; timeline: number; note: string | null } | { name: null; problem: string };

/**
 * The cluster's current primary: the one reachable primary or, when several servers are read-write
 * (a standby promoted by hand), the only one standbys stream from. Anything else is a problem
 * in words: pgdr does not guess which server clients write to.
 */
export function currentPrimary(nodes: PrimaryCandidate[]): CurrentPrimary {
  const primaries = nodes.filter((n) => n.probe?.role === 'primary');
  if (primaries.length === 1) return { name: primaries[0]!.name, timeline: primaries[0]!.probe!.timeline, note: null };
  if (primaries.length === 0)
    return { name: null, problem: `no reachable primary: ${nodes.map((n) => `${n.name}: ${n.error ?? n.probe?.role}`).join('; ')}` };
  const listed = primaries.map((p) => `${p.name} (timeline ${p.probe!.timeline})`).join(', ');
  const followed = primaries.filter((p) => p.probe!.replication.some((r) => r.state === 'streaming'));
  if (followed.length === 1) {
    const p = followed[0]!;
    return {
      name: p.name,
      timeline: p.probe!.timeline,
      note: `more than one primary: ${listed}; ${p.name} is the one the standbys stream from`,
    };
  }
  return { name: null, problem: `more than one primary: ${listed}, and no standby streams from exactly one of them` };
}
