/**
 * The named pipe a backup reads pg_basebackup's stdout through (adapters/pipeReader.ts): bytes
 * arrive in the caller's buffer exactly as written, the pipe ends when the tool exits, nothing is
 * left on disk, and a tool whose reader has gone dies of it rather than hanging.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runTool, spawnTool } from '../../adapters/gateway.js';
import { openPipeReader } from '../../adapters/pipeReader.js';

/** The pipe's size as the kernel reports it (F_GETPIPE_SZ through /proc, apart from pipeReader's own answer). */
async function kernelPipeSize(fd: number): Promise<number> {
  const r = await runTool({
    tool: 'perl',
    args: ['-e', `open(my $f, '>', '/proc/${process.pid}/fd/${fd}') or die; print fcntl($f, 1032, 0);`],
  });
  return Number(r.stdout);
}

/** The size a new pipe gets on this kernel, for this user, now. */
async function defaultPipeSize(): Promise<number> {
  return Number((await runTool({ tool: 'perl', args: ['-e', 'pipe(my $r, my $w) or die; print fcntl($w, 1032, 0);'] })).stdout);
}

/** Reads the pipe to its end into a buffer one byte larger than `expected` (so a surplus shows); the bytes read. */
async function readAll(pipe: Awaited<ReturnType<typeof openPipeReader>>, expected: number): Promise<Buffer> {
  const buf = Buffer.alloc(expected + 1);
  let filled = 0;
  for (let n; (n = await pipe.readInto(buf, filled, buf.length - filled)) > 0;) filled += n;
  return buf.subarray(0, filled);
}

const pipesLeft = () => readdirSync(tmpdir()).filter((f) => f.startsWith('pgdr-pipe-'));

describe('pipeReader', () => {
  it("reads a tool's whole output into the caller's buffer, ends when the tool exits, and leaves nothing in the temp directory", async () => {
    const before = pipesLeft();
    const pipe = await openPipeReader();
    // About 6.9 MB, in the tool's own write sizes; the expected bytes are built here.
    const proc = spawnTool({ tool: 'seq', args: ['1', '1000000'], stdoutFd: pipe.writeFd, streamStdout: true });
    pipe.closeWriter();
    expect(pipesLeft()).toEqual(before);
    const expected = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => `${i + 1}\n`).join(''));
    const buf = Buffer.alloc(expected.length + 1024);
    let filled = 0;
    let reads = 0;
    for (let n; (n = await pipe.readInto(buf, filled, buf.length - filled)) > 0; reads++) filled += n;
    await pipe.close();
    expect((await proc).exitCode).toBe(0);
    expect(reads).toBeGreaterThan(1);
    expect(filled).toBe(expected.length);
    expect(createHash('sha256').update(buf.subarray(0, filled)).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));
  });

  it('leaves the tool the write end only: once the reader is closed, its next write fails and it exits instead of hanging', async () => {
    const pipe = await openPipeReader();
    const proc = spawnTool({ tool: 'yes', args: [], stdoutFd: pipe.writeFd, streamStdout: true });
    pipe.closeWriter();
    const buf = Buffer.alloc(64 * 1024);
    expect(await pipe.readInto(buf, 0, buf.length)).toBeGreaterThan(0);
    await pipe.close();
    const result = await proc;
    // SIGPIPE, or EPIPE reported by the tool: either way it ended on its own.
    expect(result.signal === 'SIGPIPE' || result.exitCode !== 0).toBe(true);
  });

  it('holds 1 MiB: a tool writes a megabyte and exits before anything is read, and every byte is then read back', async () => {
    const max = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'));
    const pipe = await openPipeReader();
    try {
      const want = Math.min(1024 * 1024, max);
      expect(pipe.capacity).toBe(want);
      expect(pipe.growFailure).toBeUndefined();
      expect(await kernelPipeSize(pipe.writeFd)).toBe(want);
      const bytes = Math.min(1_000_000, want);
      const proc = spawnTool({ tool: 'head', args: ['-c', String(bytes), '/dev/urandom'], stdoutFd: pipe.writeFd, streamStdout: true });
      pipe.closeWriter();
      // Nothing has been read: in a pipe of the kernel's default size the tool would wait here for
      // a reader (30 s is only there so that failing does not take the whole test timeout).
      const ended = await Promise.race([proc, new Promise<'still writing'>((r) => setTimeout(() => r('still writing'), 30_000).unref())]);
      expect(ended === 'still writing' ? ended : ended.exitCode).toBe(0);
      expect((await readAll(pipe, bytes)).length).toBe(bytes);
    } finally {
      await pipe.close();
    }
  });

  it('never shrinks a pipe: asked for less than it holds, it keeps its size and says which', async () => {
    const pipe = await openPipeReader({ capacity: 4096 });
    try {
      const size = await defaultPipeSize();
      expect(pipe.capacity).toBe(size);
      expect(await kernelPipeSize(pipe.writeFd)).toBe(size);
    } finally {
      await pipe.close();
    }
  });

  it('without perl the pipe keeps its size, capacity is undefined with the reason, and every byte still arrives', async () => {
    const pipe = await openPipeReader({ perl: '/nonexistent/perl' });
    try {
      expect(pipe.capacity).toBeUndefined();
      expect(pipe.growFailure).toContain('/nonexistent/perl');
      expect(await kernelPipeSize(pipe.writeFd)).toBe(await defaultPipeSize());
      const proc = spawnTool({ tool: 'seq', args: ['1', '200000'], stdoutFd: pipe.writeFd, streamStdout: true });
      pipe.closeWriter();
      const expected = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n`).join(''));
      const got = await readAll(pipe, expected.length);
      expect((await proc).exitCode).toBe(0);
      expect(got.equals(expected)).toBe(true);
    } finally {
      await pipe.close();
    }
  });

  it('cancelled while it grows the pipe: rejects with the cancel, and keeps neither end open', async () => {
    const stop = new AbortController();
    const reason = new Error('activity cancelled');
    stop.abort(reason);
    // This process's open files (the tests of this file run one at a time): both ends closed again.
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    await expect(openPipeReader({ signal: stop.signal })).rejects.toBe(reason);
    expect(fds()).toBe(before);
  });
});
