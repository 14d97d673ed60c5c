/**
 * One pusher thread of the node agent's archiver (adapters/walPushers.ts starts them; the build
 * bundles this file as dist/wal-prepare-thread.mjs). It does a push's CPU half for the agent's
 * event loop, synchronously, where nothing else waits: the segment read into a buffer it keeps for
 * the next one of the same size, sha256 without a copy, zstd in large output chunks. The body
 * goes back by transfer (no copy); the upload stays with the agent, as do the config, the S3
 * client and every secret. Measured (2 cores, 16 MiB segments): the agent's loop had spent about
 * 125 ms of CPU per segment, more on fresh 16 MiB buffers, WebCrypto's copy and zlib's 16 KiB
 * callbacks than on the hashing itself; here the same work costs about 70 ms, off the loop.
 *
 * In: { id, path, compression, level }. Out: { id, bytes, digest, body } or
 * { id, error: { name, message, code } }.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { releaseNow } from './release.js';
import { compressSync, type PreparedWal, type WalCompression } from './walPrepare.js';

export interface PrepareRequest {
  id: number;
  path: string;
  compression: WalCompression;
  level: number;
}

export type PrepareReply = ({ id: number } & PreparedWal) | { id: number; error: { name: string; message: string; code?: string } };

/**
 * The read buffer kept for the next segment of the same size. A thread prepares one segment at a
 * time (synchronously), so one is all it reuses; segments over 64 MiB are read fresh each time.
 * It is kept while segments keep coming, and given back once none has come for keepBufferMs
 * (workerData; 2 s by default): an idle agent does not hold a segment's worth per thread. Then
 * the thread collects its garbage (zstd's output chunks, finished engines) when the agent was
 * started with gc() (bin/pgdr-worker's --expose-gc): an idle isolate would not collect it at all.
 */
let spare: Buffer | undefined;
const KEEP_BYTES = 64 * 1024 * 1024;
const KEEP_MS = Number((workerData as { keepBufferMs?: number } | null)?.keepBufferMs ?? 2000);
let idle: ReturnType<typeof setTimeout> | undefined;

function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = spare?.length === size ? spare : Buffer.allocUnsafeSlow(size);
    // Only synchronous code here ever read the spare: it can go at once (release.ts).
    if (spare && spare !== buf) releaseNow(spare);
    spare = undefined;
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) throw new Error(`${path} ended at byte ${off} of ${size} while it was read`);
      off += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

function giveBack(data: Buffer): void {
  if (data.length > KEEP_BYTES) return releaseNow(data);
  spare = data;
  clearTimeout(idle);
  idle = setTimeout(() => {
    if (spare) releaseNow(spare);
    spare = undefined;
    (globalThis as { gc?: () => void }).gc?.();
  }, KEEP_MS);
}

/**
 * A copy over an ArrayBuffer of its own, which can be transferred. Not Buffer.from: its small
 * results (a switched, nearly empty segment compresses to a few hundred bytes) come from Node's
 * shared pool, which cannot be transferred.
 */
function copyOf(b: Buffer): Buffer {
  const own = Buffer.from(new ArrayBuffer(b.length));
  b.copy(own);
  return own;
}

/** `b` itself when it spans an ArrayBuffer of its own, else a copy. */
function owning(b: Buffer): Buffer {
  return b.byteOffset === 0 && b.buffer.byteLength === b.length ? b : copyOf(b);
}

function prepare(req: PrepareRequest): PrepareReply {
  const data = readWhole(req.path);
  try {
    // The pool sends zstd here only where zlib has it (zlibHasZstd).
    const compressed = compressSync(data, req.compression, req.level);
    if (!compressed) throw new Error(`this runtime's zlib has no ${req.compression}`);
    // Uncompressed, the body is the read buffer itself: a copy goes, the buffer stays here.
    const body = compressed === data ? copyOf(data) : owning(compressed);
    return { id: req.id, bytes: data.length, digest: createHash('sha256').update(data).digest('hex'), body };
  } finally {
    giveBack(data);
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (req: PrepareRequest) => {
    let reply: PrepareReply;
    try {
      reply = prepare(req);
    } catch (err) {
      const e = err as Error & { code?: unknown };
      const code = typeof e?.code === 'string' ? { code: e.code } : {};
      reply = { id: req.id, error: { name: e?.name ?? 'Error', message: e?.message ?? String(err), ...code } };
    }
    try {
      port.postMessage(reply, 'body' in reply ? [reply.body.buffer as ArrayBuffer] : []);
    } catch {
      // A body Node will not transfer after all: sent as a copy.
      port.postMessage(reply);
    }
  });
  port.postMessage({ ready: true });
}
