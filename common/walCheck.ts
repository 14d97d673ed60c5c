/**
 * The WAL archive check's result and how it is judged. Pure and workflow-safe: the workflow
 * gathers facts with activities, then `judgeWalArchive` turns them into problems (red) and
 * warnings, in plain words that name the segment concerned.
 */
import type { ArchiverStats } from './status.js';
import { segmentNumber, segmentOfLsn, segmentEndLsn, timelineSpans, DEFAULT_SEGMENT_BYTES, type HistoryEntry } from './wal.js';
import { formatLsn, lsnDiff } from './lsn.js';
import { firstGapAfter, windowBackups } from './restore.js';

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
  roundTrip: { segment: string; ok: boolean; seconds: number } | null;
  continuity: ContinuityReport | null;
  lag: { bytes: number; segments: number; seconds: number } | null;
  window: TimelineWindow[];
  /** When retention last recomputed `window` after expiring backups (absent: as of checkedAt). */
  windowAsOf?: string;
  /** WAL segment size the check used (absent in results stored before it was recorded). */
  segmentBytes?: number;
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

export function judgeWalArchive(f: WalFacts): { healthy: boolean; problems: string[]; warnings: string[]; lag: WalCheckResult['lag']; failedSincePrevious: number | null } {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (f.archiveMode !== null && f.archiveMode === 'off') problems.push('archive_mode is off on the primary: no WAL is archived (run pgdr archive enable, then restart)');

  const a = f.archiver;
  if (a?.lastFailedAt && (!a.lastArchivedAt || Date.parse(a.lastFailedAt) >= Date.parse(a.lastArchivedAt))) {
    problems.push(
      `archiving is failing: segment ${a.lastFailedWal} failed at ${a.lastFailedAt}` +
        (a.lastArchivedWal ? `; the last success was ${a.lastArchivedWal} at ${a.lastArchivedAt}` : '; nothing was ever archived') +
        ` (${a.failedCount} failures in all)`,
    );
  }
  const failedSincePrevious = a && f.previousFailedCount !== null ? Math.max(0, a.failedCount - f.previousFailedCount) : null;
  if (failedSincePrevious && problems.length === 0) {
    warnings.push(`${failedSincePrevious} archive attempt(s) failed since the previous check (last: ${a?.lastFailedWal} at ${a?.lastFailedAt}); archiving has recovered since`);
  }

  if (f.roundTrip && !f.roundTrip.ok) {
    problems.push(`segment ${f.roundTrip.segment} (closed by pg_switch_wal) did not reach the archive within ${f.roundTripTimeoutSeconds} s`);
  }

  const c = f.continuity;
  if (c) {
    if (c.offChain) problems.push(`the oldest kept backup ${c.fromBackup} is on timeline ${c.fromTimeline}, which is not an ancestor of the current timeline`);
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

  const lag = archiveLag(f);
  if (lag && lag.segments > f.maxLagSegments) {
    problems.push(`archive lag is ${lag.segments} segment(s) (${lag.bytes} bytes, ${lag.seconds} s), above the limit of ${f.maxLagSegments}`);
  }
  if (lag && lag.bytes > 0 && a?.lastArchivedAt) {
    const ageMin = (f.now.getTime() - Date.parse(a.lastArchivedAt)) / 60000;
    if (ageMin > f.maxArchiveAgeMinutes) problems.push(`the last archived segment is ${Math.round(ageMin)} min old while WAL waits to be archived (limit ${f.maxArchiveAgeMinutes} min)`);
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
