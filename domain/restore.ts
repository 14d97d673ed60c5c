/**
 * Point-in-time restore: the request, the pre-flight judgement and the report. Pure and
 * workflow-safe. The pre-flight turns facts gathered by activities (the catalog, the archive's
 * continuity, the newest archived commit, the destination) into either a plan or a list of
 * problems that name the value and the valid range; nothing is touched before it passes.
 */
import { parseLsn } from './lsn.js';
import { confString, pgbackrestConfValueProblem, restorePointNameProblem, RESTORE_POINT_NAME_FORM } from './pgconf.js';
import { DEFAULT_SEGMENT_BYTES, segmentName, segmentNumber, segmentOfLsn } from './wal.js';
import { branchEnd, xid32, xidProblem, type BranchOff, type TimelineRequest, type XactEnd } from './timelines.js';
import type { BackupMethod, BackupType, StoredObject } from './catalog.js';
import type { BackupTablespace, TablespaceMapping } from './tablespaces.js';
import type { LiveDirOverlap } from './paths.js';

export type { LiveDirOverlap };

export type RestoreTarget =
  { time: string } | { lsn: string } | { name: string } | { xid: string } | { latest: true } | { immediate: true };
export type RecoveryAction = 'promote' | 'pause';

export interface RestoreDestination {
  node: string;
  dataDir: string;
  port: number;
}

export interface RestoreRequest {
  cluster: string;
  target: RestoreTarget;
  destination: RestoreDestination;
  action: RecoveryAction;
  backupId?: string;
  /** Stop after (true, default) or just before the target. */
  inclusive: boolean;
  /** Restore over an existing data directory or running instance; needs confirm = cluster. */
  replaceExisting: boolean;
  confirm?: string;
  /** recovery_target_timeline asked for; absent: the primary's timeline (or the newest) as before. */
  timeline?: TimelineRequest;
  /** Where tablespaces go, by name or OID; the others go to `<dataDir>_tblspc/<oid>` (domain/tablespaces.ts). */
  tablespaceMap?: Record<string, string>;
  /** The repository to read: primary (absent: the primary), secondary, or auto (the secondary when the primary storage is unreachable). */
  repository?: 'primary' | 'secondary' | 'auto';
}

/** A good backup as the restore needs it. */
export interface RestorableBackup {
  id: string;
  method: BackupMethod;
  type: BackupType;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  startWalSegment: string;
  stopTime: string;
  compression: string;
  bytes: number;
  objects: StoredObject[];
  pgbackrestLabel?: string;
  /** The source's server_version_num: the destination's tools must be of its major (absent in older activity results). */
  pgVersion?: number;
  tablespaces?: BackupTablespace[];
  /** The node the backup was taken on (absent in older activity results). */
  sourceNode?: string;
}

export interface ArchiveFacts {
  /** The timeline recovery follows: the current primary's, or the newest in the archive without one. */
  timeline: number;
  /**
   * The newest timeline in the archive. One newer than `timeline` is not the primary's (a standby
   * promoted by hand): recovery is then pinned to `timeline` instead of following 'latest'.
   */
  newestTimeline?: number;
  /** Where `timeline` came from: the current primary, or the newest in the archive (no primary known). */
  source?: 'primary' | 'newest';
  /** Why no primary was followed, or what was odd about it; said in the plan and the report. */
  note?: string | null;
  /** Newest archived segment on that timeline. */
  lastSegment: string | null;
  /** Segments missing from the oldest good backup's start onwards, in order (capped). */
  missing: string[];
  missingHistory: string[];
  /** The timeline was asked for (RestoreRequest.timeline), and the timelines that branched off it. */
  requested?: TimelineRequest;
  children?: BranchOff[];
  /** The timeline asked for cannot be followed (not in the archive), in words. */
  timelineProblem?: string;
}

export interface DestinationFacts {
  node: string;
  dataDir: string;
  port: number;
  /** absent, empty, or holding files (pgData: a data directory with PG_VERSION). */
  state: 'absent' | 'empty' | 'files' | 'pgData';
  /** A server runs in it (postmaster.pid with a live process). */
  running: boolean;
  portFree: boolean;
  /** The destination as the host resolves it: symlinks followed, one spelling. */
  canonicalDir: string;
  /** The host the node agent runs on (its hostname): with canonicalDir, the key of the destination's lock. */
  host: string;
  /** Live directories of configured nodes that the destination is, lies inside, or contains. */
  liveOverlaps: LiveDirOverlap[];
  /** Inside restore.dir or restore.allowedRoots (canonical). */
  withinRoots: boolean;
  /** The roots, for messages. */
  roots: string[];
  /** The directory holds a standby (standby.signal): restoring over it would fork the archive. */
  standby: boolean;
  /** The cluster's tablespaces on this host, by OID (absent in facts recorded before they were reported). */
  liveTablespaces?: { node: string; oid: number; path: string }[];
}

export interface RestorePlan {
  backup: RestorableBackup;
  /** The recovery target as Postgres gets it. */
  settings: RecoveryTargetSettings;
  /** Newest archived commit reachable from the backup without a gap. */
  lastCommit: { lsn: string; time: string } | null;
  /** Last segment recovery can read before the archive ends or has a gap. */
  lastSegment: string | null;
  /** The directory, when it holds data, is renamed aside (replaceExisting). */
  replacing: boolean;
  /** A server runs in the destination and is stopped first (replaceExisting). */
  stopFirst: boolean;
  /**
   * The destination is the node's own data directory: the cluster's primary restored in place.
   * Only then does the restored server archive, and its new timeline goes into the cluster's
   * archive on purpose. Every other copy runs with archive_mode off.
   */
  inPlace: boolean;
  /** The timeline recovery follows, and why; `pinned` when a newer, foreign timeline is in the archive. */
  timeline: TimelineChoice;
  /** What the caller should know before replay, e.g. that an xid target's stop is only checked after it. */
  notes: string[];
  /** Where each of the backup's tablespaces goes (absent: the backup has none). */
  tablespaces?: TablespaceMapping[];
}

export interface TimelineChoice {
  number: number;
  source: 'primary' | 'newest' | 'request';
  pinned: boolean;
  note: string | null;
  /** What the request asked for (source 'request'). */
  requested?: TimelineRequest;
}

export interface RecoveryTargetSettings {
  kind: 'time' | 'lsn' | 'name' | 'xid' | 'immediate';
  /** The target as Postgres takes it (an xid in its 32-bit form). */
  value: string | null;
  inclusive: boolean;
  action: RecoveryAction;
  /** recovery_target_timeline when not 'latest': the primary's (a newer foreign one archived) or the one asked for. */
  timeline?: number;
  /** An xid target's commit or abort record, when the pre-flight found it in the archive. */
  xact?: XactEnd;
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$/;

/** RFC 3339 with an explicit offset; microseconds allowed (Postgres keeps them). */
export function isRfc3339(text: string): boolean {
  return RFC3339.test(text) && !Number.isNaN(Date.parse(text));
}

/** Milliseconds of an RFC 3339 time, plus its sub-millisecond part for exact comparisons. */
function micros(time: string): bigint {
  const ms = BigInt(Date.parse(time));
  const frac = /\.(\d+)/.exec(time)?.[1] ?? '';
  const extra = BigInt(frac.padEnd(6, '0').slice(3, 6) || '0');
  return ms * 1000n + extra;
}

/** The first missing segment a restore from this backup would need, if any. */
export function firstGapAfter(
  backup: Pick<RestorableBackup, 'startWalSegment'>,
  missing: string[],
  segmentBytes = DEFAULT_SEGMENT_BYTES,
): string | null {
  const from = segmentNumber(backup.startWalSegment, segmentBytes);
  return missing.find((m) => segmentNumber(m, segmentBytes) >= from) ?? null;
}

/**
 * The good backups the recoverable window runs from, oldest first: those whose WAL reaches as
 * far as the newest backup's (to the archive's end, or to the same gap). The first one's stop is
 * the earliest recoverable point. The one definition behind the restore pre-flight's range, the
 * recovery-window API and the pgdr_recovery_window_start metric.
 */
export function windowBackups<B extends Pick<RestorableBackup, 'startWalSegment'>>(
  backups: B[],
  missing: string[],
  segmentBytes = DEFAULT_SEGMENT_BYTES,
): B[] {
  const newest = backups.at(-1);
  if (!newest) return [];
  const reach = firstGapAfter(newest, missing, segmentBytes);
  // A gap after an older backup's start and before the newest's leaves that backup short.
  return backups.filter((b) => firstGapAfter(b, missing, segmentBytes) === reach);
}

/** The last segment recovery from this backup can read: before its first gap, or the newest. */
export function lastReadableSegment(backup: RestorableBackup, archive: ArchiveFacts, segmentBytes = DEFAULT_SEGMENT_BYTES): string | null {
  const gap = firstGapAfter(backup, archive.missing, segmentBytes);
  if (!gap) return archive.lastSegment;
  const seg = segmentNumber(gap, segmentBytes);
  return seg > 0 ? segmentName(parseInt(gap.slice(0, 8), 16), seg - 1, segmentBytes) : null;
}

/**
 * The backup a restore starts from: the newest good one that is consistent before the target
 * (stopped before it), or the one asked for. Returns a problem in words when there is none.
 */
export function chooseBackup(
  target: RestoreTarget,
  backups: RestorableBackup[],
  backupId?: string,
  pointLsn?: string,
  /** The window's first backup (windowBackups), named when the target is too early. */
  earliest: RestorableBackup | undefined = backups[0],
): { backup: RestorableBackup } | { problem: string } {
  if (backups.length === 0) return { problem: 'the cluster has no good backup to restore from' };
  const before = (b: RestorableBackup): boolean => {
    if ('time' in target) return micros(b.stopTime) < micros(target.time);
    const lsn = 'lsn' in target ? target.lsn : pointLsn;
    if (lsn) return parseLsn(b.stopLsn) <= parseLsn(lsn);
    return true;
  };
  if (backupId) {
    const b = backups.find((x) => x.id === backupId);
    if (!b)
      return {
        problem: `backupId "${backupId}" is not a good backup of the cluster: expected one of ${backups.map((x) => x.id).join(', ')}`,
      };
    if (!before(b))
      return {
        problem: `backupId "${backupId}" stopped at ${b.stopTime} (lsn ${b.stopLsn}), after the target ${describeTarget(target)}: a restore cannot stop before its backup is consistent`,
      };
    return { backup: b };
  }
  const candidates = backups.filter(before);
  if (candidates.length === 0) {
    const first = earliest ?? backups[0]!;
    return {
      problem: `target ${describeTarget(target)} is before the earliest recoverable point, the stop of backup ${first.id} at ${first.stopTime} (lsn ${first.stopLsn})`,
    };
  }
  return { backup: candidates.at(-1)! };
}

export function describeTarget(t: RestoreTarget): string {
  if ('time' in t) return `time ${t.time}`;
  if ('lsn' in t) return `lsn ${t.lsn}`;
  if ('name' in t) return `restore point "${t.name}"`;
  if ('xid' in t) return `xid ${t.xid}`;
  if ('latest' in t) return 'latest';
  return 'immediate';
}

export interface JudgeInput {
  request: RestoreRequest;
  backups: RestorableBackup[];
  archive: ArchiveFacts;
  /** The newest commit in [backup start, last readable segment], from pg_waldump. */
  lastCommit: { lsn: string; time: string } | null;
  /** For a name target: where the restore point was found, if it was. */
  restorePoint: { lsn: string; time: string | null } | null;
  /** For an xid target: its commit or abort record, if found, and whether the search read every segment from the oldest backup on. */
  xact?: XactEnd | null;
  xactSearch?: { firstSegment: string; lastSegment: string; complete: boolean };
  destination: DestinationFacts;
  /** The node that is the cluster's primary now; null when none answers; absent when not probed. */
  currentPrimary?: string | null;
  now: Date;
  segmentBytes?: number;
}

/** The pre-flight: a plan, or every problem found (each names the value and the valid range). */
export function judgeRestore(input: JudgeInput): { plan: RestorePlan; problems: [] } | { plan: null; problems: string[] } {
  const f = { ...input, destination: withGroundDefaults(input.destination, input.request.cluster) };
  const problems: string[] = [];
  const r = f.request;
  const t = r.target;
  const segBytes = f.segmentBytes ?? DEFAULT_SEGMENT_BYTES;

  // The destination: empty or absent, port free; data or a running server only when told.
  problems.push(...judgeDestination(r, f.destination, f.currentPrimary));
  if (f.archive.timelineProblem) {
    problems.push(f.archive.timelineProblem);
    return { plan: null, problems };
  }

  if ('time' in t && micros(t.time) > BigInt(f.now.getTime()) * 1000n) {
    problems.push(`target time ${t.time} is in the future (now ${f.now.toISOString()})`);
    return { plan: null, problems };
  }
  const badName = 'name' in t ? restorePointNameProblem(t.name) : null;
  if (badName) {
    problems.push(
      `restore point ${JSON.stringify((t as { name: string }).name)} cannot be used: ${badName}; expected ${RESTORE_POINT_NAME_FORM}`,
    );
    return { plan: null, problems };
  }
  if ('name' in t && !f.restorePoint) {
    problems.push(
      `restore point "${t.name}" was not found in the archived WAL${f.archive.lastSegment ? ` up to ${f.archive.lastSegment}` : ''}`,
    );
    return { plan: null, problems };
  }
  const badXid = 'xid' in t ? xidProblem(t.xid) : null;
  if (badXid) {
    problems.push(`target xid ${JSON.stringify((t as { xid: string }).xid)} cannot be used: ${badXid}`);
    return { plan: null, problems };
  }
  const point = f.restorePoint?.lsn ?? f.xact?.lsn;
  const chosen = chooseBackup(t, f.backups, r.backupId, point, windowBackups(f.backups, f.archive.missing, segBytes)[0]);
  if ('problem' in chosen) {
    problems.push(`${chosen.problem}; ${range(f)}`);
    return { plan: null, problems };
  }
  const backup = chosen.backup;
  const gap = firstGapAfter(backup, f.archive.missing, segBytes);
  const history = f.archive.missingHistory;
  if (history.length)
    problems.push(
      `timeline history file${history.length > 1 ? 's' : ''} ${history.join(', ')} missing from the archive: recovery cannot follow the timeline switch`,
    );

  // The target must lie inside what the archive can replay from this backup.
  let settings: RecoveryTargetSettings | null = null;
  const notes: string[] = [];
  const last = f.lastCommit;
  const gapNote = gap ? ` (WAL segment ${gap} is missing from the archive, so nothing after it is recoverable)` : '';
  if ('time' in t) {
    // Postgres stops at the first commit after the target: one must be archived.
    const reach = last ? (r.inclusive ? micros(last.time) > micros(t.time) : micros(last.time) >= micros(t.time)) : false;
    const a = f.archive;
    if (!reach && a.requested !== undefined && a.children?.length && !gap)
      problems.push(
        `time ${t.time} is after ${branchEnd(a.timeline, a.children, last)}; expected a time on timeline ${a.timeline} up to ${last ? last.time : 'its newest commit'}; ${range(f, backup)}`,
      );
    else if (!reach)
      problems.push(
        `target time ${t.time} is after the newest recoverable commit${last ? ` at ${last.time} (lsn ${last.lsn})` : ' (none archived)'}${gapNote}; ${range(f, backup)}`,
      );
    settings = { kind: 'time', value: t.time, inclusive: r.inclusive, action: r.action };
  } else if ('lsn' in t) {
    const needSeg = segmentName(segTimeline(t.lsn, backup, f.archive), segmentOfLsn(t.lsn, segBytes), segBytes);
    if (gap && segmentNumber(gap, segBytes) <= segmentNumber(needSeg, segBytes))
      problems.push(`target lsn ${t.lsn} lies at or after a WAL gap${gapNote}; ${range(f, backup)}`);
    else if (!last || parseLsn(last.lsn) < parseLsn(t.lsn))
      problems.push(
        `target lsn ${t.lsn} is after the newest recoverable commit${last ? ` at lsn ${last.lsn} (${last.time})` : ' (none archived)'}; ${range(f, backup)}`,
      );
    settings = { kind: 'lsn', value: t.lsn, inclusive: r.inclusive, action: r.action };
  } else if ('name' in t) {
    if (gap && f.restorePoint && segmentNumber(gap, segBytes) <= segmentOfLsn(f.restorePoint.lsn, segBytes))
      problems.push(`restore point "${t.name}" at lsn ${f.restorePoint.lsn} lies after a WAL gap${gapNote}`);
    const viaPgbackrest = backup.method === 'pgbackrest' ? pgbackrestConfValueProblem(t.name) : null;
    if (viaPgbackrest)
      problems.push(
        `restore point ${JSON.stringify(t.name)} cannot be handed to pgBackRest for backup ${backup.id}: ${viaPgbackrest}; expected a name without ' or \\ with the pgbackrest method`,
      );
    settings = { kind: 'name', value: t.name, inclusive: true, action: r.action };
  } else if ('xid' in t) {
    settings = judgeXid(t.xid, f, backup, gap, gapNote, problems, notes);
  } else if ('latest' in t) {
    // "Latest" is pinned to the newest archived commit now, so recovery can stop (and pause)
    // there; with no commit after the backup's end, its consistency point is the latest state.
    settings =
      last && parseLsn(last.lsn) > parseLsn(backup.stopLsn)
        ? { kind: 'lsn', value: last.lsn, inclusive: true, action: r.action }
        : { kind: 'immediate', value: null, inclusive: true, action: r.action };
  } else {
    settings = { kind: 'immediate', value: null, inclusive: true, action: r.action };
  }
  if (problems.length || !settings) return { plan: null, problems };
  // 'latest' would follow a newer timeline that is not the primary's (split brain): pin the primary's.
  const a = f.archive;
  let timeline: TimelineChoice;
  if (a.requested !== undefined) {
    // Asked for: that branch exactly ('latest' stays 'latest': the newest, as judged here).
    if (a.requested !== 'latest') settings = { ...settings, timeline: a.timeline };
    timeline = { number: a.timeline, source: 'request', pinned: false, note: a.note ?? null, requested: a.requested };
  } else {
    const pinned = a.newestTimeline !== undefined && a.newestTimeline > a.timeline;
    if (pinned) settings = { ...settings, timeline: a.timeline };
    timeline = { number: a.timeline, source: a.source ?? 'newest', pinned, note: a.note ?? null };
  }
  return {
    plan: {
      backup,
      settings,
      lastCommit: last,
      lastSegment: lastReadableSegment(backup, f.archive, segBytes),
      replacing: f.destination.state === 'files' || f.destination.state === 'pgData',
      stopFirst: f.destination.running,
      inPlace: isInPlace(r, f.destination),
      timeline,
      notes,
    },
    problems: [],
  };
}

/**
 * An xid target: placed by its commit or abort record when the pre-flight found it (then judged
 * like an LSN); not found after reading every segment from the oldest backup on, refused; not
 * found in a capped search, planned with a note that the stop is checked after replay.
 */
function judgeXid(
  xid: string,
  f: JudgeInput,
  backup: RestorableBackup,
  gap: string | null,
  gapNote: string,
  problems: string[],
  notes: string[],
): RecoveryTargetSettings {
  const segBytes = f.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const r = f.request;
  const x = f.xact ?? null;
  const s = f.xactSearch;
  if (x && gap && segmentNumber(gap, segBytes) <= segmentOfLsn(x.lsn, segBytes))
    problems.push(`xid ${xid} ended at lsn ${x.lsn} (${x.time}), after a WAL gap${gapNote}; ${range(f, backup)}`);
  else if (!x && s?.complete)
    problems.push(
      `xid ${xid} has no commit or abort record in the archived WAL on timeline ${f.archive.timeline} from segment ${s.firstSegment} to ${s.lastSegment}; expected the xid of a transaction that ended after backup ${backup.id} was consistent (${backup.stopTime}, lsn ${backup.stopLsn}); ${range(f, backup)}`,
    );
  else if (!x)
    notes.push(
      `xid ${xid} was not found in the archived WAL read before replay${s ? ` (segments ${s.firstSegment} to ${s.lastSegment})` : ''}, so it could not be placed in time: recovery stops at its commit or abort record, and that it did is checked after replay (pg_xact_status on the copy)`,
    );
  if (x?.kind === 'abort') notes.push(`transaction ${xid} aborted at ${x.time} (lsn ${x.lsn}): recovery stops at its abort record`);
  return { kind: 'xid', value: String(xid32(xid)), inclusive: r.inclusive, action: r.action, ...(x ? { xact: x } : {}) };
}

function segTimeline(lsn: string, backup: RestorableBackup, archive: ArchiveFacts): number {
  // An LSN past the backup's timeline is looked for on the newest timeline; close enough to
  // name the segment in a message, exact for the single-timeline case.
  return parseLsn(lsn) >= parseLsn(backup.stopLsn) ? Math.max(backup.timeline, archive.timeline) : backup.timeline;
}

/** The recoverable range as the recovery-window API advertises it: from the window's first backup. */
function range(f: JudgeInput, backup?: RestorableBackup): string {
  const first = windowBackups(f.backups, f.archive.missing, f.segmentBytes ?? DEFAULT_SEGMENT_BYTES)[0];
  const from = first ? `${first.stopTime} (lsn ${first.stopLsn}, backup ${first.id})` : '(no backup)';
  const to = f.lastCommit ? `${f.lastCommit.time} (lsn ${f.lastCommit.lsn})` : '(no archived commit)';
  return `recoverable range on timeline ${f.archive.timeline}: ${from} to ${to}${backup ? `, restoring from backup ${backup.id}` : ''}`;
}

/**
 * Destination facts gathered before agents reported pgdr's ground (recorded histories replay
 * them): no overlap known, inside the roots, not a standby, as the judgement then was.
 */
type GroundFacts = 'canonicalDir' | 'host' | 'liveOverlaps' | 'withinRoots' | 'roots' | 'standby';
function withGroundDefaults(
  d: Omit<DestinationFacts, GroundFacts> & Partial<Pick<DestinationFacts, GroundFacts>>,
  cluster: string,
): DestinationFacts {
  // Those facts named the node whose data directory it was; the same refusal follows from an overlap.
  const legacy = (d as { configuredNode?: string | null }).configuredNode;
  const liveOverlaps: LiveDirOverlap[] = legacy ? [{ cluster, node: legacy, kind: 'data', path: d.dataDir, relation: 'is' }] : [];
  return { canonicalDir: d.dataDir, host: '', liveOverlaps, withinRoots: true, roots: [], standby: false, ...d };
}

/** The destination is the destination node's own data directory (canonical). */
export function isInPlace(r: RestoreRequest, d: DestinationFacts): boolean {
  return d.liveOverlaps.some((o) => o.relation === 'is' && o.kind === 'data' && o.cluster === r.cluster && o.node === d.node);
}

function judgeDestination(r: RestoreRequest, d: DestinationFacts, primary?: string | null): string[] {
  const out: string[] = [];
  const where = `destination ${d.node}:${d.dataDir}`;
  const holdsData = d.state === 'files' || d.state === 'pgData';
  const allowed = r.replaceExisting && r.confirm === r.cluster;
  if (r.replaceExisting && r.confirm !== r.cluster) {
    out.push(`replaceExisting needs confirm "${r.cluster}" (got ${r.confirm === undefined ? 'none' : `"${r.confirm}"`})`);
  }
  // pgdr's own ground: a configured node's live directories are off limits, except a node's
  // own data directory for an in-place restore of that very node.
  const inPlace = isInPlace(r, d);
  for (const o of d.liveOverlaps) {
    if (inPlace && o.relation === 'is' && o.kind === 'data' && o.node === d.node && o.cluster === r.cluster) continue;
    const rel = o.relation === 'is' ? 'is' : o.relation === 'inside' ? 'lies inside' : 'contains';
    const kind = o.kind === 'data' ? 'data directory' : o.kind === 'wal' ? 'WAL directory' : 'tablespace directory';
    out.push(
      `${where} ${rel} node ${o.cluster === r.cluster ? '' : `${o.cluster}/`}${o.node}'s ${kind} ${o.path}${d.canonicalDir !== d.dataDir ? ` (it resolves to ${d.canonicalDir})` : ''}; expected a directory apart from every configured node's data, WAL and tablespace directories`,
    );
  }
  if (inPlace && d.standby) {
    out.push(
      `${where} is node ${d.node}'s data directory and node ${d.node} is a standby (standby.signal): restoring it in place would make a second primary that forks the cluster's archive; expected a replica rebuild (POST /api/v1/clusters/${r.cluster}/nodes/${d.node}/rebuild) or another destination`,
    );
  }
  // Only the primary is restored in place (it archives its new timeline): any other node would
  // become a second primary writing into the cluster's archive, even one wiped or stopped.
  if (inPlace && !d.standby && primary && primary !== d.node) {
    out.push(
      `${where} is node ${d.node}'s data directory, but the cluster's primary is node ${primary}: restoring ${d.node} in place would make a second primary that forks the cluster's archive; expected a replica rebuild (POST /api/v1/clusters/${r.cluster}/nodes/${d.node}/rebuild) or another destination`,
    );
  }
  if (!inPlace && d.liveOverlaps.length === 0 && !d.withinRoots) {
    out.push(
      `${where}${d.canonicalDir !== d.dataDir ? ` (it resolves to ${d.canonicalDir})` : ''} is outside pgdr's restore roots ${d.roots.join(', ')}; expected a directory inside one of them (restore.dir, restore.allowedRoots) or a node's own data directory`,
    );
  }
  if (holdsData && !allowed) {
    out.push(
      `${where} is not empty (${d.state === 'pgData' ? 'it holds a Postgres data directory' : 'it holds files'}); expected an empty or absent directory, or replaceExisting: true with confirm: "${r.cluster}" (the old directory is renamed aside until the restore is proven)`,
    );
  }
  if (d.state === 'files' && allowed) {
    out.push(
      `${where} holds files but no Postgres data directory (no PG_VERSION); pgdr only ever replaces a Postgres data directory, expected an empty or absent directory`,
    );
  }
  if (d.running && !allowed)
    out.push(`${where} belongs to a running server; expected a stopped one, or replaceExisting: true with confirm: "${r.cluster}"`);
  if (inPlace && !allowed)
    out.push(
      `${where} is the data directory of node "${d.node}" of the cluster; expected another directory, or replaceExisting: true with confirm: "${r.cluster}"`,
    );
  // The server being replaced frees its own port when it stops.
  // Port -1: the destination node found no port of restore.portFrom..portTo free to claim.
  if (d.port < 0)
    out.push(`no free port on node ${d.node} in restore.portFrom..portTo; expected a port no server, node or other restore holds`);
  else if (!d.portFree && !(allowed && d.running)) out.push(`port ${d.port} on node ${d.node} is in use; expected a free port`);
  return out;
}

/** Lines appended to postgresql.auto.conf: the target, the action, and what a copy must not do. */
export function recoverySettings(
  s: RecoveryTargetSettings,
  o: { restoreCommand: string; port: number; keepArchiving: boolean; marker: string },
): string[] {
  // Every quoted value by postgresql.conf's rules: a restore point name may hold ' or \.
  const q = (v: string) => confString(v);
  const lines = [
    `# ${o.marker}`,
    `port = ${o.port}`,
    `restore_command = ${q(o.restoreCommand)}`,
    `recovery_target_timeline = '${s.timeline ?? 'latest'}'`,
  ];
  if (s.kind === 'time') lines.push(`recovery_target_time = ${q(pgTimestamp(s.value!))}`);
  if (s.kind === 'lsn') lines.push(`recovery_target_lsn = ${q(s.value!)}`);
  if (s.kind === 'name') lines.push(`recovery_target_name = ${q(s.value!)}`);
  if (s.kind === 'xid') lines.push(`recovery_target_xid = ${q(s.value!)}`);
  if (s.kind === 'immediate') lines.push(`recovery_target = 'immediate'`);
  lines.push(`recovery_target_inclusive = ${s.inclusive ? 'on' : 'off'}`, `recovery_target_action = '${s.action}'`, 'hot_standby = on');
  // A copy must not follow, or hold up, the production cluster, nor archive into its archive.
  lines.push(`primary_conninfo = ''`, `primary_slot_name = ''`, `synchronous_standby_names = ''`);
  if (!o.keepArchiving) lines.push(`archive_mode = 'off'`);
  return lines;
}

/** RFC 3339 as Postgres takes it for recovery_target_time, which refuses zone abbreviations like "Z". */
export function pgTimestamp(rfc3339: string): string {
  return rfc3339.replace('T', ' ').replace(/Z$/, '+00:00');
}

export interface RecoveryStop {
  /** Where replay stopped: last replayed LSN and commit time. */
  replayLsn: string;
  lastCommitTime: string | null;
  state: 'paused' | 'promoted';
  /** An xid target: pg_xact_status of that transaction in the stopped copy ('in progress' when not yet ended there). */
  xactStatus?: string | null;
  /** Restore prefetching: segments downloaded ahead into the spool, and how many of them replay took from it. */
  prefetch?: { fetched: number; served: number; corrupt: number; missing: number };
}

/**
 * Did recovery stop at the target? Never a silent "recovered to latest": a stop anywhere else
 * is a problem that says where recovery stopped.
 */
export function judgeStop(s: RecoveryTargetSettings, stop: RecoveryStop, backup: RestorableBackup): string | null {
  const at = `recovery stopped at lsn ${stop.replayLsn}, last commit ${stop.lastCommitTime ?? 'none replayed'}`;
  const wanted = s.action === 'pause' ? 'paused' : 'promoted';
  if (stop.state !== wanted) return `${at} and is ${stop.state}, expected ${wanted} at the target`;
  if (parseLsn(stop.replayLsn) < parseLsn(backup.stopLsn)) return `${at}, before the backup's consistency point ${backup.stopLsn}`;
  if (s.kind === 'time' && stop.lastCommitTime) {
    const ok = s.inclusive ? micros(stop.lastCommitTime) <= micros(s.value!) : micros(stop.lastCommitTime) < micros(s.value!);
    if (!ok) return `${at}: a commit after the target time ${s.value} was replayed`;
  }
  if (s.kind === 'lsn' && s.inclusive && parseLsn(stop.replayLsn) < parseLsn(s.value!)) return `${at}, short of the target lsn ${s.value}`;
  if (s.kind === 'xid') return xidStopProblem(s, stop, at);
  return null;
}

/**
 * An xid stop, exactly: the transaction's status in the copy (pg_xact_status), and when the
 * pre-flight placed its end record, the last replayed transaction end (inclusive) or the replay
 * position (exclusive) against that record.
 */
function xidStopProblem(s: RecoveryTargetSettings, stop: RecoveryStop, at: string): string | null {
  const x = s.xact;
  const status = stop.xactStatus ?? 'unknown';
  if (s.inclusive) {
    const want = x ? (x.kind === 'abort' ? 'aborted' : 'committed') : null;
    if (want ? status !== want : status !== 'committed' && status !== 'aborted')
      return `${at}: transaction ${s.value} is ${status} in the copy, expected ${want ?? 'committed or aborted'} (its end replayed)`;
    if (x && (!stop.lastCommitTime || micros(stop.lastCommitTime) !== micros(x.time)))
      return `${at}: the last replayed transaction end is ${stop.lastCommitTime ?? 'none'}, expected transaction ${s.value}'s at ${x.time} (lsn ${x.lsn})`;
    return null;
  }
  if (status === 'committed') return `${at}: transaction ${s.value} is committed in the copy, expected it left out (inclusive: false)`;
  if (x && parseLsn(stop.replayLsn) > parseLsn(x.lsn)) return `${at}, past transaction ${s.value}'s end record at lsn ${x.lsn}`;
  return null;
}

export interface RestoreReport {
  formatVersion: 1;
  id: string;
  cluster: string;
  workflowId: string;
  target: RestoreTarget;
  inclusive: boolean;
  action: RecoveryAction;
  backupId: string;
  method: BackupMethod;
  /** The repository the backup and WAL were read from; absent: the primary. */
  repository?: 'secondary';
  destination: RestoreDestination;
  replaced: { oldDataDir: string; removed: boolean } | null;
  /** Where each tablespace was restored (absent: the backup had none). */
  tablespaces?: TablespaceMapping[];
  /** What an operator must know about this restore, e.g. that it started a new timeline in the cluster's archive. */
  notes?: string[];
  stop: RecoveryStop;
  /** The timeline recovery followed and why (absent in reports written before it was recorded). */
  timeline?: TimelineChoice;
  /** Phases in seconds: the achieved RTO is their total. */
  seconds: { preflight: number; download: number; extract: number; verify: number; replay: number; total: number };
  bytes: { downloaded: number; restored: number };
  verification: { tool: string; ok: boolean; detail: string };
  startedAt: string;
  finishedAt: string;
}
