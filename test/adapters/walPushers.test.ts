/**
 * The agent archiver's pusher threads (adapters/walPushers.ts) on real storage: what a thread
 * stores reads back exactly (its own read buffers are reused between files, so two files of one
 * size must never mix), the push guarantees hold across the thread boundary (same content again
 * is success, other content is a conflict by name), a thread that dies fails only its own pushes
 * and is replaced, and with thread code that is missing or cannot start the pushes run on the
 * event loop. (The threads read, hash and compress; the upload stays on the calling loop.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { readWal } from '../../adapters/walStore.js';
import { PREPARE_THREAD_FILE, startWalPushers, type WalPushers } from '../../adapters/walPushers.js';

const MiB = 1024 * 1024;
const seg = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;

/** WAL-like bytes: compressible runs with random pages in between, different per seed. */
function walLike(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size, seed & 0xff);
  for (let off = 0; off < size; off += 64 * 1024) randomBytes(4096).copy(b, off);
  return b;
}

describe('WAL pusher threads', () => {
  let dir: string;
  const logged: string[] = [];
  const clusters: { tc: TestCluster; pushers: WalPushers; s3: ReturnType<typeof createS3Client> }[] = [];

  function pool(
    compression: 'zstd' | 'none' | 'gzip',
    file?: string,
    timeouts: { readyTimeoutMs?: number; jobTimeoutMs?: number; keepBufferMs?: number } = {},
  ) {
    const tc = testCluster(`push-${compression}`, (c) => (c.archive = { ...c.archive, compression }));
    const readSecret = createSecretReader();
    const s3 = createS3Client(tc.config.storage, readSecret);
    const pushers = startWalPushers({
      config: tc.config,
      s3,
      readSecret,
      threads: 2,
      log: (l) => logged.push(l),
      ...(file ? { file } : {}),
      ...timeouts,
    });
    clusters.push({ tc, pushers, s3 });
    return { tc, pushers, deps: { config: tc.config, s3, readSecret } };
  }

  /** A stand-in thread: answers like the real one, exits when asked for a file named "die", never answers for "hang". */
  function fakeThread(): string {
    const file = join(dir, 'fake-thread.mjs');
    writeFileSync(
      file,
      `import { parentPort } from 'node:worker_threads';
       parentPort.on('message', (m) => {
         if (m.path.endsWith('die')) setTimeout(() => process.exit(3), 50);
         else if (m.path.endsWith('hang')) return;
         else setTimeout(() => parentPort.postMessage({ id: m.id, bytes: 1, digest: m.path, body: Buffer.from('x') }), 200);
       });
       parentPort.postMessage({ ready: true });`,
    );
    return file;
  }

  /** One file pushed and read back exactly. */
  async function pushesOne(pushers: WalPushers, tc: TestCluster, deps: Parameters<typeof readWal>[0], sub: string) {
    mkdirSync(join(dir, sub));
    const data = walLike(MiB, 8);
    writeFileSync(join(dir, sub, seg(2)), data);
    expect((await pushers.push(tc.name, join(dir, sub, seg(2)))).uploaded).toBe(true);
    expect((await readWal(deps, tc.name, seg(2)))?.data.equals(data)).toBe(true);
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-pushers-'));
    expect(existsSync(PREPARE_THREAD_FILE), `${PREPARE_THREAD_FILE} (stack up builds it)`).toBe(true);
  });
  afterAll(async () => {
    for (const c of clusters) {
      await c.pushers.close();
      c.s3.destroy();
    }
    rmSync(dir, { recursive: true, force: true });
  });

  for (const compression of ['zstd', 'none', 'gzip'] as const) {
    it(`stores each file exactly, files of one size pushed at once never mixing (${compression})`, async () => {
      const { tc, pushers, deps } = pool(compression);
      await pushers.ready();
      expect(pushers.threads).toBe(Math.min(2, availableParallelism()));
      // Eight files of one size and two of another, all at once: every thread reuses its buffers.
      const files = Array.from({ length: 10 }, (_, i) => ({ name: seg(i + 1), data: walLike(i < 8 ? 2 * MiB : MiB, i + 1) }));
      // A switched, nearly empty 16 MiB segment (it compresses to a few hundred bytes), and one
      // whose compressed body spans several output chunks.
      files.push({ name: seg(11), data: Buffer.alloc(16 * MiB) }, { name: seg(12), data: walLike(16 * MiB, 12) });
      const sub = join(dir, compression);
      mkdirSync(sub);
      for (const f of files) writeFileSync(join(sub, f.name), f.data);
      const results = await Promise.all(files.map((f) => pushers.push(tc.name, join(sub, f.name))));
      // Every segment was prepared on a thread, none on the loop: no thread died on the way.
      expect(logged.filter((l) => l.includes('thread ended'))).toEqual([]);
      expect(results.map((r) => [r.name, r.uploaded, r.bytes])).toEqual(files.map((f) => [f.name, true, f.data.length]));
      for (const f of files) {
        const back = await readWal(deps, tc.name, f.name);
        expect(back?.data.equals(f.data), `${f.name} read back exactly`).toBe(true);
        const head = await deps.s3.send(new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: back!.key }));
        expect(head.Metadata?.compression).toBe(compression);
      }
      // A retried push of the same content is success without an upload.
      expect((await pushers.push(tc.name, join(sub, seg(3)))).uploaded).toBe(false);
    });
  }

  it("keeps a thread's read buffer while segments come, and gives it back once they stop", async () => {
    const sub = join(dir, 'idle');
    mkdirSync(sub);
    writeFileSync(join(sub, seg(1)), walLike(16 * MiB, 1));
    writeFileSync(join(sub, seg(2)), walLike(16 * MiB, 2));
    const held = (xs: number[]) => Math.max(...xs);
    // Kept for the next segment: one thread holds a segment's worth.
    const keeping = pool('zstd', undefined, { keepBufferMs: 600_000 });
    await keeping.pushers.ready();
    await keeping.pushers.push(keeping.tc.name, join(sub, seg(1)));
    expect(held(await keeping.pushers.threadMemory())).toBeGreaterThanOrEqual(16 * MiB);
    // Given back once none came for keepBufferMs.
    const giving = pool('zstd', undefined, { keepBufferMs: 200 });
    await giving.pushers.ready();
    await giving.pushers.push(giving.tc.name, join(sub, seg(2)));
    let memory = await giving.pushers.threadMemory();
    for (let i = 0; i < 100 && held(memory) >= 16 * MiB; i++) {
      await new Promise((r) => setTimeout(r, 100));
      memory = await giving.pushers.threadMemory();
    }
    expect(memory).toHaveLength(giving.pushers.threads);
    expect(held(memory)).toBeLessThan(8 * MiB);
  });

  it('keeps the never-overwrite refusal with bodies prepared on a thread, by name', async () => {
    const { tc, pushers } = pool('zstd');
    const path = join(dir, 'conflict', seg(9));
    mkdirSync(join(dir, 'conflict'));
    writeFileSync(path, walLike(MiB, 1));
    await pushers.push(tc.name, path);
    writeFileSync(path, walLike(MiB, 2));
    const err = await pushers.push(tc.name, path).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('WalConflictError');
    expect((err as Error).message).toContain(seg(9));
  });

  it('brings a failure on the thread back with its name, code and the file', async () => {
    const { tc, pushers } = pool('zstd');
    await pushers.ready();
    const missing = join(dir, 'gone', seg(5));
    const err = (await pushers.push(tc.name, missing).catch((e: Error) => e)) as Error & { code?: string };
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ENOENT');
    expect(err.message).toContain(missing);
    // It was the thread's read, not the loop's: the thread lives on and takes the next one.
    expect(logged.filter((l) => l.includes('thread ended'))).toEqual([]);
  });

  // Two threads are needed to see one die while the other goes on.
  it.skipIf(availableParallelism() < 2)('fails only the segments of a thread that dies, and starts another in its place', async () => {
    const fake = fakeThread();
    const { pushers } = pool('zstd', fake);
    await pushers.ready();
    const prepare = (path: string) => pushers.prepare(path, 'zstd', 3, async (p) => p);
    const slow = prepare('/a');
    const dying = prepare('/die');
    const errs = await Promise.allSettled([slow, dying]);
    expect(errs[1]).toMatchObject({ status: 'rejected', reason: { message: 'a WAL pusher thread exited with code 3' } });
    // The other thread's segment was not its business.
    expect(errs[0]).toMatchObject({ status: 'fulfilled', value: { digest: '/a', bytes: 1 } });
    expect(logged.some((l) => l.includes('exited with code 3'))).toBe(true);
    // A new thread takes the next ones.
    expect(await Promise.all([prepare('/b'), prepare('/c')])).toMatchObject([{ digest: '/b' }, { digest: '/c' }]);
  });

  it('ends a thread stuck on one segment, and the next segment goes to a new one', async () => {
    const { pushers } = pool('zstd', fakeThread(), { jobTimeoutMs: 500 });
    await pushers.ready();
    const prepare = (path: string) => pushers.prepare(path, 'zstd', 3, async (p) => p);
    const err = await prepare('/hang').catch((e: Error) => e);
    expect((err as Error).message).toBe('a WAL pusher thread took over 0.5 s on /hang: ended');
    expect(await prepare('/d')).toMatchObject({ digest: '/d' });
  });

  it('pushes on the event loop when the threads do not become ready in time', async () => {
    const mute = join(dir, 'mute-thread.mjs');
    writeFileSync(mute, `setInterval(() => undefined, 1000);`);
    const { tc, pushers, deps } = pool('zstd', mute, { readyTimeoutMs: 300 });
    await pushers.ready();
    expect(pushers.threads).toBe(0);
    expect(logged.some((l) => l.includes('did not start (not ready within 0.3 s)'))).toBe(true);
    await pushesOne(pushers, tc, deps, 'mute');
  });

  it('pushes on the event loop, and says so, when the thread code cannot start', async () => {
    const broken = join(dir, 'broken-thread.mjs');
    writeFileSync(broken, `throw new Error('cannot load: a broken build');`);
    const { tc, pushers, deps } = pool('zstd', broken);
    await pushers.ready();
    expect(pushers.threads).toBe(0);
    expect(logged.some((l) => l.includes('did not start') && l.includes('a broken build'))).toBe(true);
    await pushesOne(pushers, tc, deps, 'broken');
  });

  it('pushes on the event loop, and says so, when the compiled thread code is missing', async () => {
    const missing = join(dir, 'no-such-thread.mjs');
    const { tc, pushers, deps } = pool('zstd', missing);
    expect(pushers.threads).toBe(0);
    expect(logged.some((l) => l.includes(missing) && l.includes('event loop'))).toBe(true);
    await pushesOne(pushers, tc, deps, 'loop');
  });
});
