/**
 * The facts walArchiveCheck gathers from S3 and from WAL itself: round trip of a switched
 * segment, continuity from the oldest kept backup, the last archived commit, and the stored
 * check results (`<prefix>/<cluster>/checks/wal-archive/latest.json`).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { recoveryWindow, type ContinuityReport, type TimelineWindow, type WalCheckResult } from '../common/walCheck.js';
import type { RestorableBackup } from '../common/restore.js';
import { checkContinuity, parseHistory, segmentNumber, segmentName, DEFAULT_SEGMENT_BYTES, type HistoryEntry } from '../common/wal.js';
import { clusterOf, nodeOf } from '../config/lookup.js';
import { listCatalog } from './catalog.js';
import { spawnTool } from './gateway.js';
import { activityProgress } from './progress.js';
import { clusterPrefix, getJson } from './storage.js';
import { fetchForReading, findArchived, listArchivedWal, readArchivedText, type WalDeps } from './wal.js';
import { PutObjectCommand } from '@aws-sdk/client-s3';

/** Waits until a WAL file is in the archive, up to timeoutSeconds; heartbeats while it waits. */
export async function awaitArchived(deps: WalDeps, input: { cluster: string; name: string; timeoutSeconds: number }): Promise<{ ok: boolean; seconds: number; key: string | null }> {
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
  continuity: ContinuityReport;
  history: HistoryEntry[];
  /** Good backups, oldest first: where each timeline's recoverable window starts. */
  backups: RestorableBackup[];
}

/**
 * Every segment a restore from the oldest good backup needs, up to the newest archived
 * segment of the current timeline, with a .history file for each timeline switch.
 */
export async function walContinuity(deps: WalDeps, input: { cluster: string; timeline: number | null; segmentBytes: number }): Promise<ContinuityFacts> {
  const [catalog, archived] = await Promise.all([listCatalog(deps.s3, deps.config.storage, input.cluster), listArchivedWal(deps, input.cluster)]);
  const present = new Set(archived.map((a) => a.name));
  // Without a live primary (a restore), follow the newest timeline the archive knows.
  const timeline = input.timeline ?? Math.max(1, ...archived.map((a) => parseInt(a.name.slice(0, 8), 16)).filter((t) => Number.isFinite(t)));
  const historyName = `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const historyText = timeline > 1 ? await readArchivedText(deps, input.cluster, historyName) : undefined;
  const history = historyText ? parseHistory(historyText) : [];
  const good = catalog.filter((e) => e.status === 'good' && e.manifest).map((e) => e.manifest!);
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
      segmentBytes: input.segmentBytes,
    });
    continuity = { ...continuity, expected: r.expectedCount, missingCount: r.missingCount, missing: r.missing, missingHistory: r.missingHistory, offChain: r.offChain };
  } else if (timeline > 1 && !historyText) {
    continuity = { ...continuity, missingHistory: [historyName] };
  }
  return {
    timeline,
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
      ...(m.pgbackrestLabel ? { pgbackrestLabel: m.pgbackrestLabel } : {}),
    })),
  };
}

const COMMIT = /lsn: ([0-9A-F]+\/[0-9A-F]+), prev [^,]+, desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC/;
const RESTORE_POINT = /lsn: ([0-9A-F]+\/[0-9A-F]+), prev [^,]+, desc: RESTORE_POINT (.*)$/;

export interface ArchiveScan {
  lastCommit: { lsn: string; time: string; segment: string } | null;
  restorePoint: { lsn: string; time: null; segment: string } | null;
  scanned: number;
}

/**
 * Node agent: the last commit in the archive up to `lastSegment`, found by fetching archived
 * segments newest first (up to `lookBack`) and reading them with pg_waldump; with
 * `restorePoint`, also the newest restore point of that name (scanning on until it is found).
 */
export async function scanArchive(
  deps: WalDeps,
  input: { cluster: string; node: string; lastSegment: string; segmentBytes: number; lookBack?: number; restorePoint?: string; firstSegment?: string },
): Promise<ArchiveScan> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const scratchRoot = clusterOf(deps.config, input.cluster).backup.scratchDir;
  await mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(scratchRoot, 'waldump-'));
  const { heartbeat } = activityProgress();
  const out: ArchiveScan = { lastCommit: null, restorePoint: null, scanned: 0 };
  try {
    const last = segmentNumber(input.lastSegment, input.segmentBytes);
    const timeline = parseInt(input.lastSegment.slice(0, 8), 16);
    const floor = input.firstSegment ? segmentNumber(input.firstSegment, input.segmentBytes) : 0;
    const depth = input.restorePoint ? Math.max(input.lookBack ?? 8, 256) : Math.max(1, input.lookBack ?? 8);
    const rmgrs = input.restorePoint ? ['--rmgr=Transaction', '--rmgr=XLOG'] : ['--rmgr=Transaction'];
    for (let seg = last; seg > last - depth && seg >= floor; seg--) {
      const name = segmentName(timeline, seg, input.segmentBytes);
      heartbeat({ reading: name, scanned: out.scanned });
      if (!(await fetchForReading(deps, input.cluster, name, join(dir, name)))) continue;
      out.scanned++;
      // pg_waldump runs as the worker: it only reads our own scratch copy. TZ=UTC fixes its time zone.
      const proc = await spawnTool({ tool: 'pg_waldump', binDir: nc.binDir, args: [...rmgrs, join(dir, name)], env: { TZ: 'UTC', PGTZ: 'UTC' } });
      // pg_waldump exits 1 at the end of the last written record; what it printed before stands.
      const lines = String(proc.stdout ?? '').split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        const c = out.lastCommit ? null : COMMIT.exec(lines[i]!);
        if (c) // Keep the microseconds: a restore target is judged against this time exactly.
        out.lastCommit = { lsn: c[1]!, time: `${c[2]!.replace(' ', 'T')}Z`, segment: name };
        const r = input.restorePoint && !out.restorePoint ? RESTORE_POINT.exec(lines[i]!) : null;
        if (r && r[2]!.trim() === input.restorePoint) out.restorePoint = { lsn: r[1]!, time: null, segment: name };
      }
      await rm(join(dir, name), { force: true });
      if (out.lastCommit && (!input.restorePoint || out.restorePoint)) break;
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

function checkKey(deps: WalDeps, cluster: string, name: string): string {
  return `${clusterPrefix(deps.config.storage, cluster)}checks/wal-archive/${name}`;
}

/** The newest stored check result, if any. */
export async function readWalCheck(deps: WalDeps, cluster: string): Promise<WalCheckResult | undefined> {
  return getJson<WalCheckResult>(deps.s3, deps.config.storage.bucket, checkKey(deps, cluster, 'latest.json'));
}

/**
 * Stores a check result as latest.json (only the newest is kept: a check every 5 minutes would
 * otherwise pile up; each run's result also stays in its workflow's history in Temporal).
 */
export async function storeWalCheck(deps: WalDeps, result: WalCheckResult): Promise<void> {
  const body = JSON.stringify(result, null, 2);
  await deps.s3.send(new PutObjectCommand({ Bucket: deps.config.storage.bucket, Key: checkKey(deps, result.cluster, 'latest.json'), Body: body, ContentType: 'application/json' }));
}

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
  const segmentBytes = stored.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const facts = await walContinuity(deps, { cluster: input.cluster, timeline: stored.timeline, segmentBytes });
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
  await storeWalCheck(deps, { ...stored, window, windowAsOf: input.at });
  return window;
}
