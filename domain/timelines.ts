/**
 * Recovery along a requested timeline, and transaction ids as recovery targets. Pure and
 * workflow-safe. A timeline's branch is its history (the archive's .history files): the
 * ancestors up to their switch points, then the timeline itself. A backup, the WAL a restore
 * reads and a target are judged along that branch; a child that branched off it is named when a
 * target lies past what the branch holds.
 */
import { parseLsn } from './lsn.js';
import { segmentEndLsn, segmentNumber, segmentOfLsn, timelineSpans, DEFAULT_SEGMENT_BYTES, type TimelineSpan } from './wal.js';

/** recovery_target_timeline as a request names it: a number, the backup's ('current') or the newest ('latest'). */
export type TimelineRequest = number | 'current' | 'latest';

export const MAX_TIMELINE = 0xffffffff;
export const TIMELINE_FORM = `a timeline number from 1 to ${MAX_TIMELINE}, "current" (the timeline of the backup restored) or "latest" (the newest timeline in the archive)`;

/** Why a value is not a timeline request, or null (the caller names the value). */
export function timelineRequestProblem(v: unknown): string | null {
  if (v === 'current' || v === 'latest') return null;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_TIMELINE) return null;
  return `expected ${TIMELINE_FORM}`;
}

const TWO_32 = 1n << 32n;
const MAX_XID8 = (1n << 64n) - 1n;
/** The first normal transaction id: 0 is invalid, 1 bootstrap, 2 frozen. */
const FIRST_NORMAL_XID = 3n;

export const XID_FORM =
  'a transaction id in decimal: the 32-bit form from 3 to 4294967295 (as pg_waldump and age() show it), or the 64-bit form with epoch (pg_current_xact_id(), txid_current()) whose low 32 bits are 3 or more';

/** Why a value is not a transaction id target (XID_FORM), or null (the caller names the value). A JSON number must be a safe integer. */
export function xidProblem(v: unknown): string | null {
  const text = typeof v === 'number' ? (Number.isSafeInteger(v) ? String(v) : null) : typeof v === 'string' ? v : null;
  if (text === null || !/^\d{1,20}$/.test(text))
    return typeof v === 'number' && Number.isInteger(v) && v > Number.MAX_SAFE_INTEGER
      ? `expected ${XID_FORM}; a number above 2^53 must be given as a string`
      : `expected ${XID_FORM}`;
  const n = BigInt(text);
  if (n > MAX_XID8) return `expected ${XID_FORM}; it is above 2^64 - 1`;
  if (n % TWO_32 < FIRST_NORMAL_XID)
    return `expected ${XID_FORM}; ${n < TWO_32 ? 'it is' : 'its low 32 bits are'} ${n % TWO_32}, a special transaction id`;
  return null;
}

/** The 32-bit transaction id recovery matches (Postgres drops the epoch of recovery_target_xid). */
export function xid32(xid: string): number {
  return Number(BigInt(xid) % TWO_32);
}

/**
 * The 64-bit id of a given transaction id, in the epoch of a server whose next unassigned id is
 * `xmax` (pg_snapshot_xmax(pg_current_snapshot())): the 64-bit form as given, or the 32-bit form
 * placed in the newest epoch that keeps it below xmax.
 */
export function fullXid(xid: string, xmax: bigint): bigint {
  const n = BigInt(xid);
  if (n >= TWO_32) return n;
  const candidate = (xmax / TWO_32) * TWO_32 + n;
  return candidate >= xmax && candidate >= TWO_32 ? candidate - TWO_32 : candidate;
}

/** A transaction's end as pg_waldump shows it: its commit or abort record. */
export interface XactEnd {
  lsn: string;
  time: string;
  kind: 'commit' | 'abort';
}

/** A timeline that branched off another at a switch point (the last line of its .history file). */
export interface BranchOff {
  timeline: number;
  parent: number;
  switchLsn: string;
}

/**
 * A backup is on the branch when its timeline is and it was consistent before that timeline's
 * switch point on the branch: a backup taken on the parent after the child branched off holds
 * the parent's later changes.
 */
export function onBranch(backup: { timeline: number; stopLsn: string }, spans: TimelineSpan[]): boolean {
  const span = spans.find((s) => s.timeline === backup.timeline);
  return !!span && (span.endLsn === null || parseLsn(backup.stopLsn) <= parseLsn(span.endLsn));
}

/**
 * The timeline whose segment a restore along the branch reads for a segment number: each span
 * supplies the segments from its begin up to the one before its switch point; the successor
 * supplies the segment holding the switch point.
 */
export function segmentTimeline(spans: TimelineSpan[], segNo: number, segmentBytes = DEFAULT_SEGMENT_BYTES): number {
  for (const s of spans) if (s.endLsn === null || segNo < segmentOfLsn(s.endLsn, segmentBytes)) return s.timeline;
  return spans.at(-1)!.timeline;
}

/** The timelines that branched off `timeline`, by switch point. */
export function childrenOf(timeline: number, branches: BranchOff[]): BranchOff[] {
  return branches
    .filter((b) => b.parent === timeline)
    .sort((a, b) => (parseLsn(a.switchLsn) < parseLsn(b.switchLsn) ? -1 : parseLsn(a.switchLsn) > parseLsn(b.switchLsn) ? 1 : 0));
}

/** Every timeline the archive names (segments' newest, history files and their parents), ascending. */
export function knownTimelines(newest: number, branches: BranchOff[]): number[] {
  return [...new Set([newest, ...branches.flatMap((b) => [b.parent, b.timeline])])].sort((a, b) => a - b);
}

/** The timeline a request names, as a number, or a problem naming the known ones. */
export function resolveTimeline(
  requested: TimelineRequest,
  facts: { newest: number; branches: BranchOff[]; backupTimeline: number | null },
): { timeline: number } | { problem: string } {
  const known = knownTimelines(facts.newest, facts.branches);
  if (requested === 'latest') return { timeline: facts.newest };
  if (requested === 'current') {
    if (facts.backupTimeline === null)
      return { problem: 'timeline "current" names the timeline of the backup restored, and there is none' };
    return { timeline: facts.backupTimeline };
  }
  if (!known.includes(requested))
    return {
      problem: `timeline ${requested} is not in the cluster's archive; expected one of ${known.join(', ')}, "current" or "latest"`,
    };
  return { timeline: requested };
}

/**
 * Where the followed timeline ends, in words, for a target past its newest recoverable commit:
 * the switch to its first child when its WAL ends there, or its newest commit with the children
 * that branched off before it.
 */
export function branchEnd(timeline: number, children: BranchOff[], last: { lsn: string; time: string } | null): string {
  const first = children[0];
  if (!first) return `timeline ${timeline}'s newest recoverable commit at ${last ? `${last.time} (lsn ${last.lsn})` : '(none archived)'}`;
  const kids = children.map((c) => `timeline ${c.timeline} at ${c.switchLsn}`).join(', ');
  if (!last || parseLsn(last.lsn) < parseLsn(first.switchLsn))
    return `timeline ${timeline} ended at ${first.switchLsn} (${last ? `last commit ${last.time}` : 'no commit archived'}, switch to timeline ${first.timeline})`;
  return `timeline ${timeline}'s newest recoverable commit at ${last.time} (lsn ${last.lsn}; branched off it: ${kids})`;
}

/** A point a restore can reach (as domain/walCheck.ts RecoveryPoint). */
export interface BranchPoint {
  lsn: string;
  time: string | null;
  backupId?: string;
}

/**
 * What a restore that asks for this timeline can reach: from the stop of the oldest good backup
 * on its branch to its newest archived commit (the current timeline, read by the check) or the
 * end of its newest archived segment (time unknown; the restore pre-flight reads it).
 */
export interface BranchWindow {
  timeline: number;
  /** The timeline it branched off, and where; null for a timeline without a .history file (timeline 1). */
  parent: number | null;
  switchLsn: string | null;
  /** The timeline the current primary is on. */
  current: boolean;
  earliest: BranchPoint | null;
  latest: BranchPoint | null;
}

/** The history a timeline's .history file holds, rebuilt from each timeline's own switch (parent first). */
export function historyOf(timeline: number, branches: BranchOff[]): { timeline: number; switchLsn: string; reason: string }[] {
  const byTimeline = new Map(branches.map((b) => [b.timeline, b]));
  const out: { timeline: number; switchLsn: string; reason: string }[] = [];
  const seen = new Set<number>();
  for (let b = byTimeline.get(timeline); b && !seen.has(b.timeline); b = byTimeline.get(b.parent)) {
    seen.add(b.timeline);
    out.unshift({ timeline: b.parent, switchLsn: b.switchLsn, reason: '' });
  }
  return out;
}

/** Every timeline in the archive with what a restore along it can reach, oldest timeline first. */
export function branchWindows(f: {
  current: number | null;
  branches: BranchOff[];
  /** The newest archived segment of each timeline (no .partial). */
  newestSegments: Record<number, string>;
  backups: { id: string; timeline: number; stopLsn: string; stopTime: string }[];
  /** The current timeline's newest archived commit. */
  lastCommit: { lsn: string; time: string } | null;
  segmentBytes?: number;
}): BranchWindow[] {
  const segBytes = f.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const timelines = [...new Set([...f.branches.flatMap((b) => [b.parent, b.timeline]), ...Object.keys(f.newestSegments).map(Number)])].sort(
    (a, b) => a - b,
  );
  return timelines.map((timeline) => {
    const own = f.branches.find((b) => b.timeline === timeline);
    const spans = timelineSpans(timeline, historyOf(timeline, f.branches));
    const first = f.backups.find((b) => onBranch(b, spans));
    const seg = f.newestSegments[timeline];
    const latest: BranchPoint | null =
      timeline === f.current && f.lastCommit
        ? { lsn: f.lastCommit.lsn, time: f.lastCommit.time }
        : seg
          ? { lsn: segmentEndLsn(segmentNumber(seg, segBytes), segBytes), time: null }
          : null;
    return {
      timeline,
      parent: own?.parent ?? null,
      switchLsn: own?.switchLsn ?? null,
      current: timeline === f.current,
      earliest: first ? { lsn: first.stopLsn, time: first.stopTime, backupId: first.id } : null,
      latest: first ? latest : null,
    };
  });
}
