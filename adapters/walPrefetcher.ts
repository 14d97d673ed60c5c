/**
 * The restore prefetcher (basebackup method): while a restored copy replays, it keeps the next
 * segments of the timeline being recovered in a spool beside the data directory, downloaded in
 * parallel (archive.parallel) and verified against their recorded sha256, and restore_command's
 * thin client (bin/pgdr-restore) hands each to Postgres by rename. domain/walAgent.ts has the
 * spool layout.
 *
 * It runs in the node agent, started by the restore's activities and always stopped by them (at
 * the recovery target, on failure, cancellation or clean-up), which removes the spool. It also
 * stops by itself once the copy's server has been down for a while, so a workflow that vanished
 * between two activities leaves nothing running. A corrupt object is written down as
 * `<name>.bad` with the message naming it; the client then leaves that segment to `pgdr wal
 * fetch`, which reads it again and stops recovery with exit 126 naming the object if it is.
 * Anything it does not have, the client fetches directly.
 *
 * Two things spare replay a wait: the first segment is fetched as soon as the prefetcher starts,
 * from the copy's backup_label (before Postgres has started and asked for it), and a timeline
 * history file Postgres asks for is looked up here, by this warm process, at the time of the
 * request, instead of by a `pgdr wal fetch` process started for it.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf } from '../config/lookup.js';
import { HEARTBEAT_INTERVAL_MS, backupStartSegment, prefetchSpool, prefetchWindow } from '../domain/walAgent.js';
import { segmentNumber } from '../domain/wal.js';
import { WalCorruptError } from '../domain/errors.js';
import { asUser } from './gateway.js';
import { openWake, ownDir, serialPasses, touch, writeWhole } from './agentFiles.js';
import { runningPid } from './pgHost.js';
import type { SecretReader } from './secrets.js';
import { readWal } from './walStore.js';

export interface PrefetchOptions {
  /** The config of the repository read (the secondary's view for a restore from the offsite copy). */
  config: PgdrConfig;
  cluster: string;
  dataDir: string;
  osUser: string;
  s3: S3Client;
  readSecret?: SecretReader;
  log?: (line: string) => void;
  /**
   * Stop by itself, spool and all, once Postgres has asked for nothing this long (a rebuilt
   * standby that streams now). Restores stop theirs explicitly and leave this unset.
   */
  idleStopMs?: number;
}

export interface PrefetchStats {
  /** Segments downloaded and verified into the spool. */
  fetched: number;
  /** Of them, taken by restore_command (renamed out of the spool). */
  served: number;
  corrupt: number;
  missing: number;
}

export interface Prefetcher {
  readonly spool: string;
  readonly stats: PrefetchStats;
  /** True once stopped, by its caller or by itself. */
  halted(): boolean;
  stop(): Promise<void>;
}

/** Segments kept ahead of the one Postgres asked for, per download slot... */
const DEPTH_PER_SLOT = 4;
/** ...and at most this many bytes of them (one 1 GiB segment at a time, 16 of 16 MiB). */
const SPOOL_BYTES = 256 * 1024 * 1024;
/** A segment the archive did not have is asked for again after this long (a live archive grows). */
const MISSING_RETRY_MS = 5_000;
/** Stop by itself once the copy's server has not run for this long. */
const ORPHAN_AFTER_MS = 30_000;

const running = new Map<string, Promise<Prefetcher>>();
/** The last stats of each data directory's prefetcher that stopped (what a standby's took, say). */
const finished = new Map<string, PrefetchStats>();

/** The prefetcher of a data directory, started if none runs (a retried activity finds the one it started). */
export async function ensurePrefetcher(opts: PrefetchOptions): Promise<Prefetcher> {
  const existing = running.get(opts.dataDir);
  if (existing) {
    const got = await existing.catch(() => undefined);
    if (got && !got.halted()) return got;
    // It failed to start, or stopped itself: start another.
    if (running.get(opts.dataDir) === existing) running.delete(opts.dataDir);
  }
  const p = running.get(opts.dataDir) ?? startPrefetcher(opts);
  running.set(opts.dataDir, p);
  return p;
}

/**
 * ensurePrefetcher, best effort: a prefetcher that cannot start (no room or no right to make the
 * spool beside the data directory) is said on stderr, and restore_command then fetches directly.
 */
export async function tryPrefetcher(opts: PrefetchOptions): Promise<Prefetcher | undefined> {
  try {
    return await ensurePrefetcher(opts);
  } catch (err) {
    process.stderr.write(
      `prefetch ${opts.cluster} ${opts.dataDir}: not started (${(err as Error).message}); restore_command fetches each segment directly\n`,
    );
    return undefined;
  }
}

/** Stops every prefetcher of this process, spools and all (the agent is shutting down). */
export async function stopAllPrefetchers(): Promise<void> {
  await Promise.all([...running.keys()].map((dir) => stopPrefetcher(dir)));
}

/** Stops a data directory's prefetcher and removes its spool; also a spool left by a process that died. */
export async function stopPrefetcher(dataDir: string): Promise<PrefetchStats | undefined> {
  const p = running.get(dataDir);
  running.delete(dataDir);
  const prefetcher = await p?.catch(() => undefined);
  if (prefetcher) await prefetcher.stop();
  await removeSpool(prefetchSpool(dataDir));
  return prefetcher?.stats;
}

/** Data directories with a prefetcher running in this process. */
export async function activePrefetchers(): Promise<string[]> {
  const out: string[] = [];
  for (const [dir, p] of running) if (!(await p.then((x) => x.halted()).catch(() => true))) out.push(dir);
  return out;
}

/** What the last prefetcher of a data directory fetched and served, once it stopped. */
export function lastPrefetchStats(dataDir: string): PrefetchStats | undefined {
  return finished.get(dataDir);
}

/** Removes a spool, trying again while a write that began before the stop still lands in it. */
function removeSpool(spool: string): Promise<void> {
  return rm(spool, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

async function startPrefetcher(opts: PrefetchOptions): Promise<Prefetcher> {
  const { config, cluster, dataDir } = opts;
  const spool = prefetchSpool(dataDir);
  // stderr: a standalone restore keeps stdout for its JSON report.
  const log = opts.log ?? ((line: string) => process.stderr.write(`prefetch ${cluster} ${dataDir}: ${line}\n`));
  const parallel = clusterOf(config, cluster).archive.parallel;
  const depthFor = (bytes: number) => Math.max(1, Math.min(parallel * DEPTH_PER_SLOT, Math.floor(SPOOL_BYTES / bytes)));
  const deps = { config, s3: opts.s3, ...(opts.readSecret ? { readSecret: opts.readSecret } : {}) };
  const user = asUser(opts.osUser);
  const stats: PrefetchStats = { fetched: 0, served: 0, corrupt: 0, missing: 0 };
  const inflight = new Set<string>();
  const missingAt = new Map<string, number>();
  const landed = new Set<string>();
  let lastHistoryAsk = '';
  let segmentBytes: number | undefined;
  // Replay starts at the backup's first segment: fetched at once, before Postgres asks for it.
  let asked = backupStartSegment(await readFile(join(dataDir, 'backup_label'), 'utf8').catch(() => ''));
  let stopped = false;
  let lastRunning = Date.now();
  let lastAsk = Date.now();

  // A spool left by an earlier attempt may hold anything: start empty.
  await rm(spool, { recursive: true, force: true });
  await ownDir(spool, user);
  const wakeFifo = await openWake(join(spool, 'wake'), user);
  const beat = () => touch(join(spool, 'heartbeat'));
  await beat();

  // Writes into the spool still running: stopping waits for them, so none lands after its removal.
  const writes = new Set<Promise<unknown>>();
  const tracked = <T>(p: Promise<T>): Promise<T> => {
    writes.add(p);
    void p.finally(() => writes.delete(p)).catch(() => undefined);
    return p;
  };
  const put = (file: string, data: string | Uint8Array, mode?: number) => tracked(writeWhole(spool, file, data, user, mode));
  const note = (file: string, text: string) => put(file, text);
  // Never after halt(): a download that lands late wakes nobody.
  const wake = (name: string) => {
    if (!stopped) wakeFifo.send(name);
  };

  async function fetchOne(name: string): Promise<void> {
    try {
      const found = await readWal(deps, cluster, name);
      if (stopped) return;
      if (!found) {
        missingAt.set(name, Date.now());
        stats.missing++;
        await note(`${name}.none`, '');
      } else {
        segmentBytes ??= found.data.length;
        // No fsync: a spool lost in a crash is only fetched again.
        await put(name, found.data, 0o600);
        landed.add(name);
        stats.fetched++;
      }
      wake(name);
    } catch (err) {
      if (stopped) return;
      if (err instanceof WalCorruptError) {
        stats.corrupt++;
        // A note that cannot be written (a full disk): the client's wait ends in the direct fetch.
        await note(`${name}.bad`, `${err.message}\n`).catch(() => undefined);
        wake(name);
        return;
      }
      // Storage trouble: the client fetches this one directly at once (and says so if that fails too).
      missingAt.set(name, Date.now());
      log(`prefetch of ${name} failed: ${(err as Error).message.split('\n')[0]}`);
      await note(`${name}.none`, '').catch(() => undefined);
      wake(name);
    }
  }

  /** A history file asked for by one request: looked up now, answered under `<name>.<token>` (that request's alone). */
  async function answerHistory(name: string, token: string): Promise<void> {
    try {
      const found = await readWal(deps, cluster, name);
      if (stopped) return;
      if (found) await put(token, found.data, 0o600);
      else await note(`${token}.absent`, '');
    } catch (err) {
      if (stopped) return;
      if (err instanceof WalCorruptError) await note(`${token}.bad`, `${err.message}\n`).catch(() => undefined);
      else {
        log(`lookup of ${name} failed: ${(err as Error).message.split('\n')[0]}`);
        await note(`${token}.none`, '').catch(() => undefined);
      }
    }
    wake(token);
  }

  /** Nobody will stop this prefetcher (its server is gone, or nothing asks): stop, then remove the spool. */
  async function stopItself(why: string): Promise<void> {
    log(`${why}: stopping and removing the spool`);
    halt();
    await Promise.allSettled([...writes]);
    await removeSpool(spool);
  }

  async function tick(): Promise<void> {
    if (stopped) return;
    if (runningPid(dataDir) !== null) lastRunning = Date.now();
    else if (Date.now() - lastRunning > ORPHAN_AFTER_MS) return stopItself(`the copy's server has not run for ${ORPHAN_AFTER_MS / 1000} s`);
    if (opts.idleStopMs !== undefined && Date.now() - lastAsk > opts.idleStopMs && inflight.size === 0)
      return stopItself(`nothing asked for ${opts.idleStopMs / 1000} s`);
    // "<name> <token>": the token is unique to the request (the client's pid and the time), and
    // becomes part of a file name here, so it is digits and one dash only.
    const history = /^([0-9A-F]{8}\.history) (\d+-\d+)$/.exec(
      (await readFile(join(spool, 'asked-history'), 'utf8').catch(() => '')).trim(),
    );
    if (history && history[0] !== lastHistoryAsk) {
      lastHistoryAsk = history[0];
      lastAsk = Date.now();
      void answerHistory(history[1]!, `${history[1]}.${history[2]}`);
    }
    const now = (await readFile(join(spool, 'asked'), 'utf8').catch(() => '')).trim();
    if (/^[0-9A-F]{24}$/.test(now) && now !== asked) {
      asked = now;
      lastAsk = Date.now();
      // Segments that left the spool were taken by restore_command.
      for (const name of [...landed]) {
        if (existsSync(join(spool, name))) continue;
        landed.delete(name);
        stats.served++;
      }
      // What lies behind the asked segment is consumed or not needed: the spool holds only what is ahead.
      const bytes = segmentBytes ?? 16 * 1024 * 1024;
      const ahead = segmentNumber(asked, bytes);
      for (const f of await readdir(spool).catch(() => [] as string[])) {
        const name = f.slice(0, 24);
        if (f.startsWith('.') || !/^[0-9A-F]{24}$/.test(name) || segmentNumber(name, bytes) >= ahead) continue;
        await unlink(join(spool, f)).catch(() => undefined);
        landed.delete(name);
      }
    }
    if (!asked) return;
    // Until one segment told the size, only the asked one: names of the next depend on it.
    const window = segmentBytes ? prefetchWindow(asked, depthFor(segmentBytes), segmentBytes) : [asked];
    for (const name of window) {
      if (inflight.size >= parallel) break;
      if (inflight.has(name) || landed.has(name) || Date.now() - (missingAt.get(name) ?? 0) < MISSING_RETRY_MS) continue;
      if (existsSync(join(spool, `${name}.bad`))) continue;
      await unlink(join(spool, `${name}.none`)).catch(() => undefined);
      inflight.add(name);
      void fetchOne(name).finally(() => {
        inflight.delete(name);
        void scan();
      });
    }
  }

  const passes = serialPasses(tick, () => stopped, log);
  const scan = passes.run;

  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(spool, (_, file) => {
      if (file === 'asked' || file === 'asked-history') void scan();
    });
  } catch {
    // The timer still finds each request, a tick later.
  }
  const ticker = setInterval(() => void scan(), 100);
  const beater = setInterval(() => void beat().catch(() => undefined), HEARTBEAT_INTERVAL_MS);

  /** Stops timers and watching; downloads in flight land nowhere (the spool goes with the caller). */
  function halt(): void {
    if (stopped) return;
    stopped = true;
    finished.set(dataDir, stats);
    clearInterval(ticker);
    clearInterval(beater);
    watcher?.close();
    wakeFifo.close();
  }

  const self: Prefetcher = {
    spool,
    stats,
    halted: () => stopped,
    async stop() {
      halt();
      await passes.current();
      await Promise.allSettled([...writes]);
      // What replay took since Postgres last asked.
      for (const name of landed) if (!existsSync(join(spool, name))) stats.served++;
      landed.clear();
    },
  };
  log(
    `prefetching up to ${parallel * DEPTH_PER_SLOT} segments (${SPOOL_BYTES / 1024 / 1024} MiB) ahead, ${parallel} at once, into ${spool}`,
  );
  return self;
}
