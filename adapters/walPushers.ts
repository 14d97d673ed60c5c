/**
 * The node agent's pusher threads: the archiver hands each segment to one of them, so reading,
 * hashing, compressing and TLS run on every core instead of the agent's one event loop (the
 * shape of pgBackRest's process-max). Threads: the largest `archive.parallel` of the clusters
 * served, at most one per core; each runs several pushes at once (the network half overlaps).
 *
 * The thread code is the compiled dist/wal-push-thread.mjs (`npm run build`; `stack up` builds
 * it in a checkout, a package always has it). Without it the pushes run on the event loop, as
 * `pgdr wal push` does, and the agent says so once.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';
import type { SecretReader } from './secrets.js';
import { pushWal, type PushResult } from './walStore.js';
import type { PushReply, PushRequest } from './walPushThread.js';

export interface WalPushers {
  push(cluster: string, path: string): Promise<PushResult>;
  /**
   * Resolves once every thread has loaded and made its S3 client (started with the pool); if one
   * cannot, the pool pushes on the event loop from then on (`threads` 0).
   */
  ready(): Promise<void>;
  /** Threads running (0: pushing on the event loop). */
  readonly threads: number;
  /** Ends the threads; pushes in flight fail (nothing is marked durable for them). */
  close(): Promise<void>;
}

/** <package>/dist/wal-push-thread.mjs, from the sources (adapters/) and from dist/worker.js alike. */
export const PUSH_THREAD_FILE = fileURLToPath(new URL('../dist/wal-push-thread.mjs', import.meta.url));

interface Thread {
  worker: Worker;
  ready: Promise<void>;
  jobs: Map<number, { resolve: (r: PushResult) => void; reject: (e: Error) => void }>;
  dead?: Error;
}

export function startWalPushers(opts: {
  config: PgdrConfig;
  s3: S3Client;
  readSecret?: SecretReader;
  threads: number;
  log: (line: string) => void;
  /** The thread code (tests point it elsewhere). @default PUSH_THREAD_FILE */
  file?: string;
}): WalPushers {
  const file = opts.file ?? PUSH_THREAD_FILE;
  const count = Math.max(1, Math.min(opts.threads, availableParallelism()));
  const deps = { config: opts.config, s3: opts.s3, ...(opts.readSecret ? { readSecret: opts.readSecret } : {}) };
  const onLoop = (cluster: string, path: string) => pushWal(deps, cluster, path);
  if (!existsSync(file)) {
    opts.log(`no ${file} (npm run build makes it): pushing on the agent's event loop`);
    return { threads: 0, push: onLoop, ready: async () => undefined, close: async () => undefined };
  }
  /** Set when the threads could not start: every push runs on the event loop from then on. */
  let broken = false;
  let seq = 0;
  let closed = false;
  const pool: (Thread | undefined)[] = new Array(count).fill(undefined);

  function spawn(): Thread {
    // execArgv empty: the thread code is plain JavaScript, and a dev process's tsx loader would
    // otherwise load into every thread (about 200 MB each, against 40).
    const worker = new Worker(file, { workerData: { config: opts.config }, execArgv: [] });
    const t: Thread = { worker, jobs: new Map(), ready: Promise.resolve() };
    t.ready = new Promise((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`a WAL pusher thread exited with code ${code} before it was ready`)));
    });
    t.ready.catch(() => undefined);
    worker.on('message', (m: PushReply | { ready: true }) => {
      if (!('id' in m)) return;
      const job = t.jobs.get(m.id);
      if (!job) return;
      t.jobs.delete(m.id);
      if ('result' in m) job.resolve(m.result);
      else job.reject(Object.assign(new Error(m.error.message), { name: m.error.name }));
    });
    const fail = (err: Error) => {
      t.dead ??= err;
      for (const job of t.jobs.values()) job.reject(err);
      t.jobs.clear();
      const i = pool.indexOf(t);
      // The next push starts a new thread in its place.
      if (i >= 0) pool[i] = undefined;
      if (!closed && !broken) opts.log(`a WAL pusher thread ended: ${err.message}`);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a WAL pusher thread exited with code ${code}`)));
    return t;
  }

  /** The thread with the fewest pushes in flight, started if its slot is empty. */
  function pick(): Thread {
    let best = -1;
    for (let i = 0; i < pool.length; i++) {
      if (!pool[i]) pool[i] = spawn();
      if (best < 0 || pool[i]!.jobs.size < pool[best]!.jobs.size) best = i;
    }
    return pool[best]!;
  }

  // Started now, not at the first push: loading the thread code takes a second, which the first
  // segments would otherwise wait for. Thread code that cannot load would fail every push, and
  // archive_command would wait archive.agent.waitSeconds for each segment: the event loop's
  // pushes instead.
  const started = (async () => {
    try {
      for (let i = 0; i < pool.length; i++) pool[i] = spawn();
      await Promise.all(pool.map((t) => t?.ready));
    } catch (err) {
      broken = true;
      opts.log(`the WAL pusher threads did not start (${(err as Error).message}): pushing on the agent's event loop`);
      await Promise.all(pool.map((t) => t?.worker.terminate()));
    }
  })();

  const pushers: WalPushers = {
    get threads() {
      return broken ? 0 : count;
    },
    ready: () => started,
    push(cluster, path) {
      if (closed) return Promise.reject(new Error('the WAL pushers are closed'));
      if (broken) return onLoop(cluster, path);
      const t = pick();
      const id = ++seq;
      const done = new Promise<PushResult>((resolve, reject) => t.jobs.set(id, { resolve, reject }));
      // A thread that dies first rejects every job it holds, this one too.
      void t.ready.then(
        () => t.dead || t.worker.postMessage({ id, cluster, path } satisfies PushRequest),
        () => undefined,
      );
      return done;
    },
    async close() {
      closed = true;
      await Promise.all(pool.map((t) => t?.worker.terminate()));
    },
  };
  return pushers;
}
