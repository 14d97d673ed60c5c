/**
 * The facts walArchiveCheck gathers from S3 and from WAL itself: round trip of a switched
 * segment, continuity from the oldest kept backup, the last archived commit. The stored check
 * result is kept by adapters/reportStore.ts.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  recoveryWindow,
  timelineBranches,
  type ContinuityReport,
  type TimelineBranch,
  type TimelineWindow,
} from '../../domain/walCheck.js';
import type { RestorableBackup } from '../../domain/restore.js';
import {
  DEFAULT_SEGMENT_BYTES,
  checkContinuity,
  parseHistory,
  segmentNumber,
  segmentName,
  timelineSpans,
  type HistoryEntry,
} from '../../domain/wal.js';
import { resolveSegmentBytes, type ResolvedSegmentSize } from '../../domain/walSegmentSize.js';
import {
  commitCandidates,
  commitTime,
  recordLines,
  restorePointCandidates,
  sameRecord,
  xactCandidates,
  xactEnd,
  type WalRecord,
} from '../../domain/waldump.js';
import { branchWindows, segmentTimeline, type XactEnd } from '../../domain/timelines.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { listCatalog } from '../../adapters/catalogStore.js';
import { spawnTool } from '../../adapters/gateway.js';
import { activityProgress } from '../../adapters/progress.js';
import { readWalCheck, storeWalCheck } from '../../adapters/reportStore.js';
import {
  archivedSegmentSize,
  fetchForReading,
  findArchived,
  archiveRoot,
  listArchivedWal,
  readArchivedText,
  type ArchivedWal,
  type WalDeps,
} from '../../adapters/walStore.js';
import { listArchive, storeWalIndex, type ArchiveListing } from '../../adapters/walIndex.js';
import { compactIndex, type WalIndex, type WalListing } from '../../domain/walIndex.js';
import { historyFileName } from '../../domain/naming.js';

/** Waits until a WAL file is in the archive, up to timeoutSeconds; heartbeats while it waits. */
export async function awaitArchived(
  deps: WalDeps,
  input: { cluster: string; name: string; timeoutSeconds: number },
): Promise<{ ok: boolean; seconds: number; key: string | null }> {
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  for (;;) {
    const key = await findArchived(deps, input.cluster, input.name);
    const seconds = (Date.now() - t0) / 1000;
    if (key) return { ok: true, seconds, key };
    if (seconds >= input.timeoutSeconds) return { ok: false, seconds, key: null };
    heartbeat({ waitingFor: input.name, seconds: Math.round(seconds) });
    await new Promise((r) => setTimeout(r, 500));
    if (signal.aborted) throw signal.reason;
  }
}

export interface ContinuityFacts {
  /** The timeline followed: the one asked for, or the newest in the archive. */
  timeline: number;
  /** The newest timeline in the archive (a newer one than `timeline` is not the primary's). */
  newestTimeline: number;
  /** Every timeline switch the archive's .history files record, for the split-brain judge. */
  branches: TimelineBranch[];
  continuity: ContinuityReport;
  history: HistoryEntry[];
  /** Good backups, oldest first: where each timeline's recoverable window starts. */
  backups: RestorableBackup[];
  /**
   * The cluster's WAL segment size, as resolved (see domain/walSegmentSize.ts), and where it came
   * from. Always set now; absent in results recorded before, when 16 MiB was assumed.
   */
  segmentBytes?: number;
  segmentBytesSource?: ResolvedSegmentSize['source'];
  /** The newest archived segment of each timeline (absent in results recorded before it was reported). */
  newestSegments?: Record<number, string>;
  /** How the archive was listed (absent: in full, without the index, as restores and drills do). */
  listing?: WalListing;
}

/** How many of the newest .history files the split-brain judge reads. */
const MAX_HISTORIES = 32;

/**
 * Every segment a restore from the oldest good backup needs, up to the newest archived
 * segment of the current timeline, with a .history file for each timeline switch.
 */
export async function walContinuity(
  deps: WalDeps,
  input: {
    cluster: string;
    timeline: number | null;
    segmentBytes?: number | null;
    /**
     * The WAL check's listing: `incremental` lists only what is new since its index (a full
     * listing when one is due), `full` lists everything and rebuilds the index. Absent: a full
     * listing that neither reads nor writes the index (restores and drills trust no index).
     */
    listing?: 'incremental' | 'full';
  },
): Promise<ContinuityFacts> {
  if (!input.listing) return (await continuityOf(deps, input, { archived: await listArchivedWal(deps, input.cluster) })).facts;
  let listed = await listArchive(deps, input.cluster, { full: input.listing === 'full', segmentBytes: input.segmentBytes ?? null });
  let found = await continuityOf(deps, input, { archived: listed.archived, index: listed.index });
  // A gap, a missing .history or a segment off the chain seen through the index is proven by a
  // full listing before anyone is told (late or out-of-order arrivals sort before a stream's last key).
  const gone = listed.sweepMissing;
  if (listed.mode === 'incremental' && (hasGap(found.facts.continuity) || gone.length > 0)) {
    const calls = listed.listCalls;
    listed = await listArchive(deps, input.cluster, { full: true, segmentBytes: input.segmentBytes ?? null });
    listed.why = gone.length
      ? `the sweep no longer found ${gone.length} indexed object(s), the first ${gone[0]}`
      : 'the listing since the last check showed a gap';
    listed.listCalls += calls;
    // A full listing reads every .history again (the index is what it rebuilds, not what it trusts).
    found = await continuityOf(deps, input, { archived: listed.archived });
  }
  await storeWalIndex(
    deps,
    input.cluster,
    compactIndex({
      root: archiveRoot(deps, input.cluster),
      segmentBytes: found.facts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      archived: listed.archived,
      histories: found.historyTexts,
      lastKeys: listed.lastKeys,
      fullScanAt: listed.fullScanAt,
      now: new Date().toISOString(),
      sweepAfter: listed.sweepAfter,
    }),
  );
  return { ...found.facts, listing: listingFacts(listed) };
}

const hasGap = (c: ContinuityReport) => c.missingCount > 0 || c.missingHistory.length > 0 || c.offChain;

function listingFacts(l: ArchiveListing): WalListing {
  return { mode: l.mode, why: l.why, listCalls: l.listCalls, listedObjects: l.listedObjects, fullScanAt: l.fullScanAt };
}

/** The facts from one listing of the archive (`index`: history texts already read, spared a read). */
async function continuityOf(
  deps: WalDeps,
  input: { cluster: string; timeline: number | null; segmentBytes?: number | null },
  listed: { archived: ArchivedWal[]; index?: WalIndex | undefined },
): Promise<{ facts: ContinuityFacts; historyTexts: Record<string, string> }> {
  const archived = listed.archived;
  const catalog = await listCatalog(deps.s3, deps.config.storage, input.cluster);
  // The segment size: the live server's when one answered, else the backups' and the archive's; all must agree.
  const goodManifests = catalog.filter((e) => e.status === 'good' && e.manifest).map((e) => e.manifest!);
  const recorded = goodManifests.filter((m) => m.segmentBytes !== undefined);
  const size = resolveSegmentBytes(input.cluster, {
    server: input.segmentBytes ?? null,
    backups: goodManifests.map((m) => ({ id: m.id, ...(m.segmentBytes !== undefined ? { segmentBytes: m.segmentBytes } : {}) })),
    archived: await archivedSegmentSize(deps, input.cluster, archived, { decompress: !input.segmentBytes && recorded.length === 0 }),
  });
  const segmentBytes = size.segmentBytes;
  const present = new Set(archived.map((a) => a.name));
  const newestTimeline = Math.max(1, ...archived.map((a) => parseInt(a.name.slice(0, 8), 16)).filter((t) => Number.isFinite(t)));
  // Without a live primary, follow the newest timeline the archive knows.
  const timeline = input.timeline ?? newestTimeline;
  const historyName = historyFileName(timeline);
  // Every .history file (the newest few): where each timeline branched off, for the split-brain judge.
  const histories: Record<number, HistoryEntry[]> = {};
  const historyTexts: Record<string, string> = {};
  for (const h of archived.filter((a) => /^[0-9A-F]{8}\.history$/.test(a.name)).slice(-MAX_HISTORIES)) {
    const timeline = String(parseInt(h.name.slice(0, 8), 16));
    const text = listed.index?.histories[timeline] ?? (await readArchivedText(deps, input.cluster, h.name));
    if (text) {
      histories[Number(timeline)] = parseHistory(text);
      historyTexts[timeline] = text;
    }
  }
  if (timeline > 1 && !histories[timeline]) {
    const text = await readArchivedText(deps, input.cluster, historyName);
    if (text) histories[timeline] = parseHistory(text);
  }
  const history = histories[timeline] ?? [];
  const good = goodManifests;
  const oldest = good[0];
  const segs = archived.filter((a) => /^[0-9A-F]{24}$/.test(a.name));
  const onCurrent = segs.filter((a) => parseInt(a.name.slice(0, 8), 16) === timeline);
  const lastSegment = onCurrent.at(-1)?.name ?? null;
  // Without a backup, start from the oldest archived segment on the chain.
  const fromSegment = oldest?.startWalSegment ?? segs[0]?.name ?? null;
  const fromTimeline = oldest?.timeline ?? (segs[0] ? parseInt(segs[0].name.slice(0, 8), 16) : null);
  let continuity: ContinuityReport = {
    fromBackup: oldest?.id ?? null,
    fromTimeline,
    fromSegment,
    lastSegment,
    expected: 0,
    missingCount: 0,
    missing: [],
    missingHistory: [],
    offChain: false,
    archivedObjects: archived.length,
  };
  if (fromSegment && fromTimeline !== null && lastSegment) {
    const r = checkContinuity({
      fromTimeline,
      fromSegment,
      currentTimeline: timeline,
      history,
      lastSegment,
      present,
      segmentBytes,
    });
    continuity = {
      ...continuity,
      expected: r.expectedCount,
      missingCount: r.missingCount,
      missing: r.missing,
      missingHistory: r.missingHistory,
      offChain: r.offChain,
    };
  } else if (timeline > 1 && !histories[timeline]) {
    continuity = { ...continuity, missingHistory: [historyName] };
  }
  const newestSegments: Record<number, string> = {};
  for (const a of segs) newestSegments[parseInt(a.name.slice(0, 8), 16)] = a.name;
  const facts: ContinuityFacts = {
    timeline,
    newestTimeline,
    segmentBytes,
    segmentBytesSource: size.source,
    newestSegments,
    branches: timelineBranches(archived, histories, segmentBytes),
    continuity,
    history,
    backups: good.map((m) => ({
      id: m.id,
      method: m.method,
      type: m.type,
      timeline: m.timeline,
      startLsn: m.startLsn,
      stopLsn: m.stopLsn,
      startWalSegment: m.startWalSegment,
      stopTime: m.stopTime,
      compression: m.compression,
      bytes: m.bytes,
      objects: m.objects,
      pgVersion: m.pgVersion,
      ...(m.pgbackrestLabel ? { pgbackrestLabel: m.pgbackrestLabel } : {}),
      ...(m.sourceNode ? { sourceNode: m.sourceNode } : {}),
      ...(m.tablespaces?.length ? { tablespaces: m.tablespaces } : {}),
    })),
  };
  return { facts, historyTexts };
}

/** Records a scan re-reads to rule out forged lines, at most; past it, what is left counts as not found. */
const MAX_VERIFICATIONS = 64;

export interface ArchiveScan {
  lastCommit: { lsn: string; time: string; segment: string } | null;
  restorePoint: { lsn: string; time: null; segment: string } | null;
  /** With `xid`: that transaction's commit or abort record, if found. */
  xact?: (XactEnd & { segment: string }) | null;
  scanned: number;
}

/**
 * Node agent: the last commit in the archive up to `lastSegment`, found by fetching archived
 * segments newest first (up to `lookBack`) and reading them with pg_waldump; with
 * `restorePoint`, also the newest restore point of that name (scanning on until it is found).
 */
export async function scanArchive(
  deps: WalDeps,
  input: {
    cluster: string;
    node: string;
    lastSegment: string;
    segmentBytes: number;
    lookBack?: number;
    restorePoint?: string;
    firstSegment?: string;
    /** The end record of this transaction (32-bit id), looked for down to firstSegment. */
    xid?: number;
    /** The followed timeline's history: segments before a switch point are read on the ancestor's timeline. */
    history?: HistoryEntry[];
  },
): Promise<ArchiveScan> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const scratchRoot = clusterOf(deps.config, input.cluster).backup.scratchDir;
  await mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(scratchRoot, 'waldump-'));
  const { heartbeat } = activityProgress();
  const out: ArchiveScan = { lastCommit: null, restorePoint: null, scanned: 0, ...(input.xid !== undefined ? { xact: null } : {}) };
  let verifications = 0;
  try {
    const last = segmentNumber(input.lastSegment, input.segmentBytes);
    const timeline = parseInt(input.lastSegment.slice(0, 8), 16);
    const spans = input.history ? timelineSpans(timeline, input.history) : null;
    const floor = input.firstSegment ? segmentNumber(input.firstSegment, input.segmentBytes) : 0;
    const depth = input.restorePoint ? Math.max(input.lookBack ?? 8, 256) : Math.max(1, input.lookBack ?? 8);
    const rmgrs = input.restorePoint ? ['--rmgr=Transaction', '--rmgr=XLOG'] : ['--rmgr=Transaction'];
    for (let seg = last; seg > last - depth && seg >= floor; seg--) {
      const name = segmentName(spans ? segmentTimeline(spans, seg, input.segmentBytes) : timeline, seg, input.segmentBytes);
      heartbeat({ reading: name, scanned: out.scanned });
      if (!(await fetchForReading(deps, input.cluster, name, join(dir, name)))) continue;
      out.scanned++;
      // pg_waldump runs as the worker: it only reads our own scratch copy. TZ=UTC fixes its time zone.
      const proc = await spawnTool({
        tool: 'pg_waldump',
        binDir: nc.binDir,
        args: [...rmgrs, join(dir, name)],
        env: { TZ: 'UTC', PGTZ: 'UTC' },
      });
      // pg_waldump exits 1 at the end of the last written record; what it printed before stands.
      const records = recordLines(String(proc.stdout ?? ''));
      // A candidate counts only once pg_waldump prints the same line again for the one record at
      // its LSN: a restore point's name or a GID can hold a line that looks like a record.
      const firstGenuine = async (candidates: WalRecord[]): Promise<WalRecord | null> => {
        for (const r of candidates) {
          if (verifications >= MAX_VERIFICATIONS) return null;
          verifications++;
          const again = await spawnTool({
            tool: 'pg_waldump',
            binDir: nc.binDir,
            args: [`--start=${r.lsn}`, '--limit=1', join(dir, name)],
            env: { TZ: 'UTC', PGTZ: 'UTC' },
          });
          if (sameRecord(r, String(again.stdout ?? ''))) return r;
        }
        return null;
      };
      if (!out.lastCommit) {
        const c = await firstGenuine(commitCandidates(records));
        // Keep the microseconds: a restore target is judged against this time exactly.
        if (c) out.lastCommit = { lsn: c.lsn, time: commitTime(c)!, segment: name };
      }
      if (input.restorePoint !== undefined && !out.restorePoint) {
        // The name exactly as created: " qa-lead" is not "qa-lead".
        const p = await firstGenuine(restorePointCandidates(records, input.restorePoint));
        if (p) out.restorePoint = { lsn: p.lsn, time: null, segment: name };
      }
      if (input.xid !== undefined && !out.xact) {
        const x = await firstGenuine(xactCandidates(records, input.xid));
        if (x) out.xact = { lsn: x.lsn, ...xactEnd(x)!, segment: name };
      }
      await rm(join(dir, name), { force: true });
      if (out.lastCommit && (!input.restorePoint || out.restorePoint) && (input.xid === undefined || out.xact)) break;
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The newest commit in the archive up to lastSegment (see scanArchive). */
export async function lastArchivedCommit(
  deps: WalDeps,
  input: { cluster: string; node: string; lastSegment: string; segmentBytes: number; lookBack?: number },
): Promise<{ lsn: string; time: string; segment: string } | null> {
  return (await scanArchive(deps, input)).lastCommit;
}

/** The check result is kept by the report store (the activities keep their names). */
export { readWalCheck, storeWalCheck };

/**
 * After retention expired backups: the stored check's window recomputed from the catalog and the
 * archive as they are now, so the recovery-window API and the metrics never advertise a start
 * retention removed. The latest point stays the check's (retention does not move it); the rest
 * of the check (problems, continuity) waits for the next check. Null when no check is stored.
 */
export async function refreshRecoveryWindow(deps: WalDeps, input: { cluster: string; at: string }): Promise<TimelineWindow[] | null> {
  const stored = await readWalCheck(deps, input.cluster);
  if (!stored) return null;
  if (stored.timeline === null) return stored.window;
  const facts = await walContinuity(deps, { cluster: input.cluster, timeline: stored.timeline, segmentBytes: stored.segmentBytes ?? null });
  const segmentBytes = facts.segmentBytes!;
  const current = stored.window.find((w) => w.timeline === stored.timeline)?.latest;
  const window = recoveryWindow({
    timeline: stored.timeline,
    history: facts.history,
    backups: facts.backups,
    lastCommit: current?.time ? { lsn: current.lsn, time: current.time } : null,
    lastSegment: stored.continuity?.lastSegment ?? facts.continuity.lastSegment,
    missing: facts.continuity.missing,
    segmentBytes,
  });
  const branches = stored.branchWindows
    ? branchWindows({
        current: stored.timeline,
        branches: facts.branches,
        newestSegments: facts.newestSegments ?? {},
        backups: facts.backups,
        lastCommit: current?.time ? { lsn: current.lsn, time: current.time } : null,
        segmentBytes,
      })
    : undefined;
  await storeWalCheck(deps, { ...stored, window, ...(branches ? { branchWindows: branches } : {}), windowAsOf: input.at });
  return window;
}
