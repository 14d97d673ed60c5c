/**
 * The facts walArchiveCheck gathers from S3 and from WAL itself: round trip of a switched
 * segment, continuity from the oldest kept backup, the last archived commit, and the stored
 * check results (`<prefix>/<cluster>/checks/wal-archive/latest.json`).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContinuityReport, WalCheckResult } from '../common/walCheck.js';
import { checkContinuity, parseHistory, segmentNumber, segmentName, type HistoryEntry } from '../common/wal.js';
import { clusterOf, nodeOf } from '../config/lookup.js';
import { listCatalog } from './catalog.js';
import { spawnTool } from './gateway.js';
import { activityProgress } from './progress.js';
import { clusterPrefix, getJson } from './storage.js';
import { fetchWal, findArchived, listArchivedWal, readArchivedText, type WalDeps } from './wal.js';
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
  continuity: ContinuityReport;
  history: HistoryEntry[];
  /** Good backups, oldest first: where each timeline's recoverable window starts. */
  backups: { id: string; timeline: number; stopLsn: string; stopTime: string }[];
}

/**
 * Every segment a restore from the oldest good backup needs, up to the newest archived
 * segment of the current timeline, with a .history file for each timeline switch.
 */
export async function walContinuity(deps: WalDeps, input: { cluster: string; timeline: number; segmentBytes: number }): Promise<ContinuityFacts> {
  const [catalog, archived] = await Promise.all([listCatalog(deps.s3, deps.config.storage, input.cluster), listArchivedWal(deps, input.cluster)]);
  const present = new Set(archived.map((a) => a.name));
  const historyName = `${input.timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
  const historyText = input.timeline > 1 ? await readArchivedText(deps, input.cluster, historyName) : undefined;
  const history = historyText ? parseHistory(historyText) : [];
  const good = catalog.filter((e) => e.status === 'good' && e.manifest).map((e) => e.manifest!);
  const oldest = good[0];
  const segs = archived.filter((a) => /^[0-9A-F]{24}$/.test(a.name));
  const onCurrent = segs.filter((a) => parseInt(a.name.slice(0, 8), 16) === input.timeline);
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
      currentTimeline: input.timeline,
      history,
      lastSegment,
      present,
      segmentBytes: input.segmentBytes,
    });
    continuity = { ...continuity, expected: r.expectedCount, missingCount: r.missingCount, missing: r.missing, missingHistory: r.missingHistory, offChain: r.offChain };
  } else if (input.timeline > 1 && !historyText) {
    continuity = { ...continuity, missingHistory: [historyName] };
  }
  return { continuity, history, backups: good.map((m) => ({ id: m.id, timeline: m.timeline, stopLsn: m.stopLsn, stopTime: m.stopTime })) };
}

const COMMIT = /lsn: ([0-9A-F]+\/[0-9A-F]+), prev [^,]+, desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC/;

/**
 * Node agent: the last commit in the archive, found by fetching the newest archived segments
 * (newest first, up to `lookBack`) and reading them with pg_waldump.
 */
export async function lastArchivedCommit(
  deps: WalDeps,
  input: { cluster: string; node: string; lastSegment: string; segmentBytes: number; lookBack?: number },
): Promise<{ lsn: string; time: string; segment: string } | null> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const scratchRoot = clusterOf(deps.config, input.cluster).backup.scratchDir;
  await mkdir(scratchRoot, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(scratchRoot, 'waldump-'));
  const { heartbeat } = activityProgress();
  try {
    const last = segmentNumber(input.lastSegment, input.segmentBytes);
    const timeline = parseInt(input.lastSegment.slice(0, 8), 16);
    for (let seg = last; seg > last - (input.lookBack ?? 8) && seg >= 0; seg--) {
      const name = segmentName(timeline, seg, input.segmentBytes);
      heartbeat({ reading: name });
      if (!(await fetchWal(deps, input.cluster, name, join(dir, name)))) continue;
      // pg_waldump runs as the worker: it only reads our own scratch copy. TZ=UTC fixes its time zone.
      const proc = await spawnTool({ tool: 'pg_waldump', binDir: nc.binDir, args: ['--rmgr=Transaction', join(dir, name)], env: { TZ: 'UTC', PGTZ: 'UTC' } });
      // pg_waldump exits 1 at the end of the last written record; what it printed before stands.
      const lines = String(proc.stdout ?? '').split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        const m = COMMIT.exec(lines[i]!);
        if (m) return { lsn: m[1]!, time: new Date(`${m[2]!.replace(' ', 'T')}Z`).toISOString(), segment: name };
      }
      await rm(join(dir, name), { force: true });
    }
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
