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
 */
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from './gateway.js';
import type { ChunkReader } from './partUpload.js';

export interface PipeReader extends ChunkReader {
  /** The write end, for the tool's stdout (spawnTool's stdoutFd); closeWriter() once the tool has it. */
  readonly writeFd: number;
  closeWriter(): void;
  /** Closes both ends (idempotent). */
  close(): Promise<void>;
}

export async function openPipeReader(): Promise<PipeReader> {
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
      const writeFd = openSync(path, constants.O_WRONLY);
      return pipeReader(reader, writeFd);
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

function pipeReader(reader: FileHandle, writeFd: number): PipeReader {
  let writerOpen = true;
  let closed = false;
  const closeWriter = () => {
    if (writerOpen) closeSync(writeFd);
    writerOpen = false;
  };
  return {
    writeFd,
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
