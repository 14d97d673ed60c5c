/**
 * The node agent's pusher threads: each push's CPU half (reading, sha256, compression) runs on
 * one of them, so it uses every core instead of the agent's one event loop (the shape of
 * pgBackRest's process-max); the upload, the listing and the never-overwrite rules stay on the
 * loop in pushWal, with the agent's S3 client, config and secrets. Threads: the largest
 * `archive.parallel` of the clusters served, at most one per core; a thread takes the next
 * segment while the loop uploads the last one. Each thread loads Node's built-ins only (about
 * 13 MB).
 *
 * The thread code is the compiled dist/wal-prepare-thread.mjs (`npm run build`; `stack up` builds
 * it in a checkout, a package always has it). Without it, or when it cannot start, the pushes run
 * on the event loop, as `pgdr wal push` does, and the agent says so once.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';
import type { SecretReader } from './secrets.js';
import { releaseNow } from './release.js';
import { prepareOnLoop, pushWal, type PreparedWal, type PushResult, type WalPreparer } from './walStore.js';
import { zlibHasZstd } from './walPrepare.js';
import type { PrepareReply, PrepareRequest } from './walPrepareThread.js';

export interface WalPushers {
  push(cluster: string, path: string): Promise<PushResult>;
  /** The CPU half alone, on a thread (pushWal's preparer). */
  prepare: WalPreparer;
  /**
   * Resolves once every thread has loaded (they start with the pool); if one cannot within 30 s,
   * the pool pushes on the event loop from then on (`threads` 0).
   */
  ready(): Promise<void>;
  /** Threads running (0: pushing on the event loop). */
  readonly threads: number;
  /** Ends the threads; pushes in flight fail (nothing is marked durable for them). */
  close(): Promise<void>;
  /** Native memory each running thread holds now (V8's external memory), in bytes: its read buffer while it keeps one. */
  threadMemory(): Promise<number[]>;
}

/** <package>/dist/wal-prepare-thread.mjs, from the sources (adapters/) and from dist/worker.js alike. */
export const PREPARE_THREAD_FILE = fileURLToPath(new URL('../dist/wal-prepare-thread.mjs', import.meta.url));

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  jobs: Map<number, { resolve: (r: PreparedWal) => void; reject: (e: Error) => void; timer?: NodeJS.Timeout }>;
  dead?: Error;
  fail?: (err: Error) => void;
}

/** How long the threads may take to load; then the agent pushes on its loop. */
const READY_TIMEOUT_MS = 30_000;
/** How long one segment may take on a thread (a read stuck on a dead disk): then the thread is ended. */
const JOB_TIMEOUT_MS = 120_000;
/** Threads in a row that die before they are ready, after start-up: then the loop from then on. */
const MAX_FAILED_STARTS = 3;

export function startWalPushers(opts: {
  config: PgdrConfig;
  s3: S3Client;
  readSecret?: SecretReader;
  threads: number;
  log: (line: string) => void;
  /** The thread code (tests point it elsewhere). @default PREPARE_THREAD_FILE */
  file?: string;
  /** @default READY_TIMEOUT_MS */
  readyTimeoutMs?: number;
  /** @default JOB_TIMEOUT_MS */
  jobTimeoutMs?: number;
  /** How long a thread keeps its read buffer for the next segment. @default 2000 (the thread's) */
  keepBufferMs?: number;
}): WalPushers {
  const file = opts.file ?? PREPARE_THREAD_FILE;
  const readyTimeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const jobTimeoutMs = opts.jobTimeoutMs ?? JOB_TIMEOUT_MS;
  const count = Math.max(1, Math.min(opts.threads, availableParallelism()));
  const deps = { config: opts.config, s3: opts.s3, ...(opts.readSecret ? { readSecret: opts.readSecret } : {}) };
  if (!existsSync(file)) {
    opts.log(`no ${file} (npm run build makes it): pushing on the agent's event loop`);
    return {
      threads: 0,
      prepare: prepareOnLoop,
      push: (cluster, path) => pushWal(deps, cluster, path),
      ready: async () => undefined,
      close: async () => undefined,
      threadMemory: async () => [],
    };
  }
  /** Set when the threads could not start: every push runs on the event loop from then on. */
  let broken = false;
  let seq = 0;
  let closed = false;
  let failedStarts = 0;
  const pool: (Thread | undefined)[] = new Array(count).fill(undefined);

  function spawn(): Thread {
    // execArgv empty: the thread code is plain JavaScript, and a dev process's tsx loader would
    // otherwise load into every thread (measured: about 200 MB each).
    const worker = new Worker(file, {
      execArgv: [],
      ...(opts.keepBufferMs !== undefined ? { workerData: { keepBufferMs: opts.keepBufferMs } } : {}),
    });
    const t: Thread = { worker, jobs: new Map(), ready: Promise.resolve() };
    t.ready = new Promise((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`a WAL pusher thread exited with code ${code} before it was ready`)));
    });
    t.ready.then(
      () => (failedStarts = 0),
      () => {
        // Thread code that broke after start-up (a package replaced in place): stop trying.
        if (++failedStarts >= MAX_FAILED_STARTS && !broken && !closed) {
          broken = true;
          opts.log(`${failedStarts} WAL pusher threads in a row died before they were ready: pushing on the agent's event loop`);
        }
      },
    );
    worker.on('message', (m: PrepareReply | { ready: true }) => {
      if (!('id' in m)) return;
      const job = t.jobs.get(m.id);
      if (!job) return;
      t.jobs.delete(m.id);
      clearTimeout(job.timer);
      if ('error' in m) job.reject(Object.assign(new Error(m.error.message), { name: m.error.name, code: m.error.code }));
      // The body arrives as a Uint8Array over the transferred memory.
      else job.resolve({ bytes: m.bytes, digest: m.digest, body: Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength) });
    });
    const fail = (err: Error) => {
      // 'error' is followed by 'exit': one report.
      const first = !t.dead;
      t.dead ??= err;
      for (const job of t.jobs.values()) {
        clearTimeout(job.timer);
        job.reject(t.dead);
      }
      t.jobs.clear();
      const i = pool.indexOf(t);
      // The next push starts a new thread in its place.
      if (i >= 0) pool[i] = undefined;
      if (first && !closed && !broken) opts.log(`a WAL pusher thread ended: ${t.dead.message}`);
    };
    t.fail = fail;
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a WAL pusher thread exited with code ${code}`)));
    return t;
  }

  /** The thread with the fewest segments in flight (the first of equals), started if its slot is empty. */
  function pick(): Thread {
    let best = -1;
    for (let i = 0; i < pool.length; i++) {
      if (!pool[i]) pool[i] = spawn();
      if (best < 0 || pool[i]!.jobs.size < pool[best]!.jobs.size) best = i;
    }
    return pool[best]!;
  }

  function onThread(req: Omit<PrepareRequest, 'id'>): Promise<PreparedWal> {
    if (closed) return Promise.reject(new Error('the WAL pushers are closed'));
    const t = pick();
    const id = ++seq;
    const done = new Promise<PreparedWal>((resolve, reject) => t.jobs.set(id, { resolve, reject }));
    // A thread that dies first rejects every job it holds, this one too.
    void t.ready.then(
      () => {
        if (t.dead) return;
        const job = t.jobs.get(id);
        if (job) {
          job.timer = setTimeout(() => {
            t.fail?.(new Error(`a WAL pusher thread took over ${jobTimeoutMs / 1000} s on ${req.path}: ended`));
            void t.worker.terminate();
          }, jobTimeoutMs);
          job.timer.unref();
        }
        t.worker.postMessage({ id, ...req } satisfies PrepareRequest);
      },
      () => undefined,
    );
    return done;
  }

  // A runtime without zstd in zlib (Node before 22.15) compresses with the zstd tool, on the loop.
  const threadable = (compression: string) => compression !== 'zstd' || zlibHasZstd();
  const prepare: WalPreparer = async (path, compression, level, use) => {
    if (broken || !threadable(compression)) return prepareOnLoop(path, compression, level, use);
    const prepared = await onThread({ path, compression, level });
    const result = await use(prepared);
    // Stored, or found stored: no request reads the body any more (release.ts). After a failure
    // it is left to the collector.
    releaseNow(prepared.body);
    return result;
  };

  // Started now, not at the first push, which would otherwise wait for the thread to load (65 ms
  // idle, longer under load). Thread code that cannot load would fail every push, and
  // archive_command would wait archive.agent.waitSeconds for each segment: the event loop's
  // pushes instead.
  const started = (async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      for (let i = 0; i < pool.length; i++) pool[i] = spawn();
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not ready within ${readyTimeoutMs / 1000} s`)), readyTimeoutMs);
      });
      await Promise.race([Promise.all(pool.map((t) => t?.ready)), late]);
    } catch (err) {
      broken = true;
      opts.log(`the WAL pusher threads did not start (${(err as Error).message}): pushing on the agent's event loop`);
      await Promise.all(pool.map((t) => t?.worker.terminate()));
    } finally {
      clearTimeout(timer);
    }
  })();

  const pushers: WalPushers = {
    get threads() {
      return broken ? 0 : count;
    },
    ready: () => started,
    prepare,
    push: (cluster, path) => (closed ? Promise.reject(new Error('the WAL pushers are closed')) : pushWal(deps, cluster, path, prepare)),
    async threadMemory() {
      const live = pool.filter((t): t is Thread => t !== undefined && !t.dead);
      return Promise.all(live.map(async (t) => (await t.worker.getHeapStatistics()).external_memory));
    },
    async close() {
      closed = true;
      await Promise.all(pool.map((t) => t?.worker.terminate()));
    },
  };
  return pushers;
}
