/**
 * A named pipe between a tool's stdout and buffers the reader keeps. Node's child stdout hands
 * each read over as a fresh Buffer (pg_basebackup writes ~44 KiB at a time: over a thousand per
 * GB of zstd output), and that memory is returned only when the garbage collector gets to it: on
 * the bench database it raised a process's peak RSS by 30-45 MB over the same read into kept
 * buffers. Reading the pipe with fs.read puts the bytes straight into the upload's part buffers.
 *
 * The pipe is unlinked as soon as both ends are open, so nothing is left on disk, whatever
 * happens later. The tool gets the write end only: when this process dies, its next write fails
 * with EPIPE and it exits, as it would with an ordinary pipe. Each read waits in one thread of
 * libuv's pool until the tool writes (or exits).
 *
 * The pipe holds 1 MiB, not Linux's default 64 KiB. A backup's pg_basebackup is CPU-bound on
 * its zstd; each time the pipe is full it sleeps until this process's next read, which waits
 * behind whatever the event loop is doing (TLS for the parts in flight, the SDK). With 64 KiB,
 * ~40 ms of its output at bench rates, that cost about 0.6 s of a 10 s backup (scratch runs
 * in turns, 5.5 GB: median 10.05 s over nine with 64 KiB, 9.47 s over three with 1 MiB). Node
 * has no fcntl, so F_SETPIPE_SZ is set by perl (Debian's perl-base is always installed).
 * Without perl, or when the kernel refuses, the pipe keeps its size: slower, never wrong.
 */
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from './gateway.js';
import type { ChunkReader } from './partUpload.js';

export interface PipeReader extends ChunkReader {
  /** The write end, for the tool's stdout (spawnTool's stdoutFd); closeWriter() once the tool has it. */
  readonly writeFd: number;
  /** Bytes the pipe holds (at least the capacity asked, when it could grow); undefined when it could not be grown. */
  readonly capacity: number | undefined;
  /** Why it could not be grown (perl missing, or the kernel refused: over fs.pipe-user-pages-soft). */
  readonly growFailure?: string;
  closeWriter(): void;
  /** Closes both ends (idempotent). */
  close(): Promise<void>;
}

export interface PipeReaderOptions {
  /** Bytes the pipe should hold (default 1 MiB, at most fs.pipe-max-size for unprivileged users). */
  capacity?: number;
  /** The perl that sets it (default: perl on PATH). */
  perl?: string;
  /** Stops perl (the activity's cancellation). */
  signal?: AbortSignal;
}

/** Linux's fcntl commands for a pipe's size (F_LINUX_SPECIFIC_BASE + 7 and + 8). */
const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;
const DEFAULT_CAPACITY = 1024 * 1024;

export async function openPipeReader(o: PipeReaderOptions = {}): Promise<PipeReader> {
  const { reader, writeFd } = await openEnds();
  // Grown once the FIFO is gone from the file system: perl reaches the pipe through /proc.
  const grown = await growPipe(writeFd, o).then(
    (capacity) => ({ capacity }),
    (err: unknown) => ({ capacity: undefined, growFailure: err instanceof Error ? err.message : String(err) }),
  );
  const pipe = pipeReader(reader, writeFd, grown);
  // Cancelled while perl ran: that is why it failed, not the kernel; nothing is handed out.
  if (o.signal?.aborted) {
    await pipe.close();
    throw o.signal.reason;
  }
  return pipe;
}

/** Both ends of a new FIFO, which is already unlinked when this resolves. */
async function openEnds(): Promise<{ reader: FileHandle; writeFd: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-pipe-'));
  const path = join(dir, 'stdout');
  try {
    await runTool({ tool: 'mkfifo', args: ['-m', '0600', path] });
    // Opening one end of a FIFO waits for the other. Held open read-write for a moment, the
    // pipe lets each end open at once, one after the other, without blocking a thread.
    const hold = openSync(path, constants.O_RDWR);
    let reader: FileHandle | undefined;
    try {
      reader = await open(path, constants.O_RDONLY);
      return { reader, writeFd: openSync(path, constants.O_WRONLY) };
    } catch (err) {
      await reader?.close();
      throw err;
    } finally {
      closeSync(hold);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Grows the pipe behind this process's writeFd to the capacity asked (the kernel rounds it up
 * to pages; never shrunk) and resolves the size it holds. perl opens it write-only through
 * /proc/<pid>/fd, which does not wait (this process holds the read end), and the size belongs
 * to the pipe, so it stays once perl has gone. Rejects with perl's reason.
 */
async function growPipe(writeFd: number, o: PipeReaderOptions): Promise<number> {
  const max = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8'));
  const want = Math.min(o.capacity ?? DEFAULT_CAPACITY, Number.isFinite(max) && max > 0 ? max : DEFAULT_CAPACITY);
  const script = [
    `use Fcntl; sysopen(my $f, $ARGV[0], O_WRONLY) or die "open: $!\\n";`,
    `fcntl($f, ${F_GETPIPE_SZ}, 0) >= $ARGV[1] or fcntl($f, ${F_SETPIPE_SZ}, $ARGV[1] + 0) or die "F_SETPIPE_SZ $ARGV[1]: $!\\n";`,
    `print fcntl($f, ${F_GETPIPE_SZ}, 0);`,
  ].join(' ');
  const r = await runTool({
    tool: o.perl ?? 'perl',
    args: ['-e', script, `/proc/${process.pid}/fd/${writeFd}`, String(want)],
    timeoutMs: 10_000,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const size = Number(r.stdout.trim());
  if (!Number.isInteger(size) || size <= 0) throw new Error(`perl answered ${JSON.stringify(r.stdout.slice(0, 80))}, not a pipe size`);
  return size;
}

function pipeReader(reader: FileHandle, writeFd: number, grown: { capacity: number | undefined; growFailure?: string }): PipeReader {
  let writerOpen = true;
  let closed = false;
  const closeWriter = () => {
    if (writerOpen) closeSync(writeFd);
    writerOpen = false;
  };
  return {
    writeFd,
    ...grown,
    closeWriter,
    async readInto(into, offset, length) {
      return (await reader.read(into, offset, length)).bytesRead;
    },
    async close() {
      closeWriter();
      if (!closed) await reader.close();
      closed = true;
    },
  };
}
