/**
 * The node agent's archiver (basebackup method): pushes a node's ready WAL segments to storage
 * ahead of Postgres, in parallel, and answers archive_command's thin client (bin/pgdr-archive)
 * through files in archive.agent.stateDir (domain/walAgent.ts has the layout).
 *
 * Guarantees, the same as `pgdr wal push` (it runs the same pushWal): sha256 in the object's
 * metadata, never an overwrite, a retry of the same content is success. A durable marker names
 * the file's fingerprint and is written only after storage has the object and the file was
 * unchanged across the push, so a crash at any point leaves either no marker (the client waits,
 * then pushes itself) or a true one.
 *
 * It pushes only while a client has asked within DEMAND_WINDOW_MS: a node whose archive_command
 * does not name this agent's cluster is never archived by it.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, readdir, realpath, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';
import { nodeOf, clusterOf } from '../config/lookup.js';
import {
  DEMAND_WINDOW_MS,
  HEARTBEAT_INTERVAL_MS,
  MAX_STATE_KEY,
  archiverStateKey,
  nextToPush,
  retryDelaySeconds,
  walFingerprint,
} from '../domain/walAgent.js';
import { asUser } from './gateway.js';
import { openWake, ownDir, serialPasses, touch, writeWhole, type Wake } from './agentFiles.js';
import type { SecretReader } from './secrets.js';
import { pushWal } from './walStore.js';
import type { WalPushers } from './walPushers.js';

export interface ArchiverOptions {
  config: PgdrConfig;
  cluster: string;
  node: string;
  s3: S3Client;
  readSecret?: SecretReader;
  log?: (line: string) => void;
  /** Pusher threads (adapters/walPushers.ts); without them it pushes on this event loop. */
  pushers?: WalPushers;
  /** Milliseconds between scans (new requests and ready segments also wake it at once). @default 200 */
  tickMs?: number;
}

export interface ArchiverStats {
  pushed: number;
  /** Segments storage already held with the same content. */
  alreadyThere: number;
  failures: number;
  inFlight: number;
}

export interface Archiver {
  readonly stats: ArchiverStats;
  /** The node's state directory, once set up. */
  stateDir(): string | undefined;
  /** Stops scanning and beating (clients then push directly); uploads in flight are abandoned. */
  stop(): Promise<void>;
}

const CLEANUP_EVERY_MS = 30_000;
/** Markers and error notes outlive their .ready file this long (a client may still be reading). */
const KEEP_AFTER_DONE_MS = 60_000;

export function startArchiver(opts: ArchiverOptions): Archiver {
  const { config, cluster, node } = opts;
  const nc = nodeOf(config, cluster, node);
  const { agent: settings, parallel } = clusterOf(config, cluster).archive;
  // stderr, like the prefetcher's: stdout may carry a report.
  const log = opts.log ?? ((line: string) => process.stderr.write(`archiver ${cluster}/${node}: ${line}\n`));
  const deps = { config, s3: opts.s3, ...(opts.readSecret ? { readSecret: opts.readSecret } : {}) };
  const stats: ArchiverStats = { pushed: 0, alreadyThere: 0, failures: 0, inFlight: 0 };
  const inflight = new Map<string, Promise<void>>();
  const durable = new Map<string, number>(); // name -> when its marker was written
  const backoff = new Map<string, { count: number; until: number }>();
  const user = asUser(nc.osUser);
  let dir: string | undefined;
  let walDir = '';
  let wake: Wake | undefined;
  let watchers: FSWatcher[] = [];
  let lastDemand = 0;
  let lastCleanup = Date.now();
  let lastSetupError = '';
  let stopped = false;

  /** The state directory, owned by the node's OS user (the client writes requests into it). */
  async function setUp(): Promise<boolean> {
    try {
      const real = await realpath(nc.dataDir);
      const key = archiverStateKey(real);
      if (key.length > MAX_STATE_KEY) throw new Error(`data directory path ${real} is too long for a state directory name`);
      const base = join(settings.stateDir, cluster);
      const d = join(base, key);
      for (const p of [settings.stateDir, base]) await mkdir(p, { recursive: true, mode: 0o755 });
      for (const sub of ['', 'want', 'durable', 'failed']) await ownDir(join(d, sub), user);
      wake = await openWake(join(d, 'wake'), user);
      walDir = join(real, 'pg_wal');
      dir = d;
      // No heartbeat (clients push directly) until the pusher threads can take segments.
      await opts.pushers?.ready();
      // Stopped meanwhile: no watcher or heartbeat that nobody would take down.
      if (stopped) return false;
      await beat();
      for (const watched of [join(d, 'want'), join(walDir, 'archive_status')]) {
        try {
          watchers.push(watch(watched, () => void scan()));
        } catch {
          // The scan timer still finds everything, a tick later.
        }
      }
      const where = opts.pushers?.threads
        ? `on ${opts.pushers.threads} pusher thread${opts.pushers.threads > 1 ? 's' : ''}`
        : 'on the event loop';
      log(`serving archive_command requests in ${d} (up to ${parallel} uploads at once ${where})`);
      return true;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== lastSetupError) log(`not serving yet (archive_command pushes directly meanwhile): ${message}`);
      lastSetupError = message;
      return false;
    }
  }

  let beating: Promise<void> | undefined;
  function beat(): Promise<void> {
    if (!dir || stopped) return Promise.resolve();
    beating = touch(join(dir, 'heartbeat')).finally(() => (beating = undefined));
    return beating;
  }

  /** Markers and error notes: written whole, readable by the client whatever the agent's umask. */
  async function writeNote(sub: 'durable' | 'failed', name: string, text: string): Promise<void> {
    await writeWhole(join(dir!, sub), name, text, user);
  }

  async function fingerprint(name: string): Promise<string> {
    return walFingerprint(await stat(join(walDir, name), { bigint: true }));
  }

  async function markerMatches(name: string, fp: string): Promise<boolean> {
    try {
      return (await readFile(join(dir!, 'durable', name), 'utf8')).split(' ')[0] === fp;
    } catch {
      return false;
    }
  }

  /** Tells a waiting client, if any, that its segment is durable. */
  async function answer(name: string): Promise<void> {
    try {
      await unlink(join(dir!, 'want', name));
      wake?.send(name);
    } catch {
      // Nobody asked for it yet: Postgres will, and find the marker at once.
    }
  }

  async function push(name: string): Promise<void> {
    try {
      const before = await fingerprint(name);
      if (!(await markerMatches(name, before))) {
        const path = join(walDir, name);
        const res = await (opts.pushers ? opts.pushers.push(cluster, path) : pushWal(deps, cluster, path));
        // The file read is the file fingerprinted only if nothing touched it meanwhile.
        const after = await fingerprint(name);
        if (after !== before) throw new Error(`${name} changed while it was being pushed (${before} then ${after})`);
        await writeNote('durable', name, `${before} ${res.key}\n`);
        if (res.uploaded) stats.pushed++;
        else stats.alreadyThere++;
      }
      durable.set(name, Date.now());
      backoff.delete(name);
      await unlink(join(dir!, 'failed', name)).catch(() => undefined);
      await answer(name);
    } catch (err) {
      // Archived some other way meanwhile (the client's own push), and the file recycled: nothing to report.
      if (!existsSync(join(walDir, 'archive_status', `${name}.ready`))) return;
      stats.failures++;
      const count = (backoff.get(name)?.count ?? 0) + 1;
      backoff.set(name, { count, until: Date.now() + retryDelaySeconds(count) * 1000 });
      const message = ((err as Error).message || (err as Error).name || String(err)).split('\n')[0]!;
      log(`push of ${name} failed (attempt ${count}, next in ${retryDelaySeconds(count)} s): ${message}`);
      await writeNote('failed', name, `${message}\n`).catch(() => undefined);
    }
  }

  async function names(sub: string): Promise<string[]> {
    try {
      return await readdir(sub);
    } catch {
      return [];
    }
  }

  async function scanOnce(): Promise<void> {
    if (!dir && !(await setUp())) return;
    const wanted = new Set((await names(join(dir!, 'want'))).filter((n) => !n.startsWith('.')));
    if (wanted.size) lastDemand = Date.now();
    // Every archive_command call touches `asked`, also those answered at once from a marker.
    const asked = await stat(join(dir!, 'asked')).catch(() => undefined);
    if (asked && asked.mtimeMs > lastDemand) lastDemand = asked.mtimeMs;
    if (Date.now() - lastDemand > DEMAND_WINDOW_MS) return;
    const ready = (await names(join(walDir, 'archive_status'))).filter((n) => n.endsWith('.ready')).map((n) => n.slice(0, -6));
    // A request for a segment already durable (asked again after a restart of Postgres) is answered at once.
    for (const n of wanted) if (durable.has(n)) void answer(n);
    const now = Date.now();
    const busy = (n: string) => inflight.has(n) || durable.has(n) || (backoff.get(n)?.until ?? 0) > now;
    for (const name of nextToPush(ready, wanted, busy, parallel - inflight.size)) {
      const p = push(name).finally(() => {
        inflight.delete(name);
        stats.inFlight = inflight.size;
        void scan();
      });
      inflight.set(name, p);
      stats.inFlight = inflight.size;
    }
    if (now - lastCleanup > CLEANUP_EVERY_MS) {
      lastCleanup = now;
      await cleanUp(new Set(ready));
    }
  }

  /** Forgets segments Postgres has finished with: their markers, notes and stale requests. */
  async function cleanUp(ready: Set<string>): Promise<void> {
    const cutoff = Date.now() - KEEP_AFTER_DONE_MS;
    for (const [name] of durable) if (!ready.has(name) && (durable.get(name) ?? 0) < cutoff) durable.delete(name);
    for (const sub of ['durable', 'failed', 'want']) {
      for (const name of await names(join(dir!, sub))) {
        if (ready.has(name) || inflight.has(name)) continue;
        const path = join(dir!, sub, name);
        const st = await stat(path).catch(() => undefined);
        if (st && st.mtimeMs < cutoff) await unlink(path).catch(() => undefined);
      }
    }
    for (const name of backoff.keys()) if (!ready.has(name)) backoff.delete(name);
  }

  const passes = serialPasses(scanOnce, () => stopped, log);
  const scan = passes.run;

  const ticker = setInterval(() => void scan(), opts.tickMs ?? 200);
  const beater = setInterval(() => void beat().catch(() => undefined), HEARTBEAT_INTERVAL_MS);
  void scan();

  return {
    stats,
    stateDir: () => dir,
    async stop() {
      stopped = true;
      clearInterval(ticker);
      clearInterval(beater);
      // A pass may be setting up (watchers, the FIFO): let it finish, then close what it made.
      await passes.current();
      for (const w of watchers) w.close();
      watchers = [];
      // Clients see no heartbeat and push directly from now on, instead of waiting 5 s to notice
      // (after a beat in flight, which would make it again).
      await beating?.catch(() => undefined);
      if (dir) await unlink(join(dir, 'heartbeat')).catch(() => undefined);
      // Uploads in flight are abandoned (the caller destroys the S3 client): one that never
      // finishes writes no marker, and its segment is pushed again by whoever archives it next.
      wake?.close();
    },
  };
}
