/**
 * The CPU half of a WAL push, in a module of its own: the pusher threads
 * (adapters/walPrepareThread.ts) load this and Node's built-ins only, not the S3 SDK.
 */
import zlib, { gzipSync } from 'node:zlib';
import type { PgdrConfig } from '../config/schema.js';

export type WalCompression = PgdrConfig['clusters'][string]['archive']['compression'];

/** A WAL file's size and sha256, and the (compressed) bytes to store. */
export interface PreparedWal {
  bytes: number;
  digest: string;
  body: Buffer;
}

/** Node's zlib has zstd (22.15 and later). */
export function zlibHasZstd(): boolean {
  return typeof (zlib as unknown as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
}

/**
 * Compresses in the calling thread (a pusher thread: nothing else waits on it); undefined on a
 * runtime whose zlib has no zstd (the zstd tool then, on the event loop).
 */
export function compressSync(data: Buffer, compression: WalCompression, level: number): Buffer | undefined {
  if (compression === 'none') return data;
  if (compression === 'gzip') return gzipSync(data, { level: Math.min(level, 9) });
  // Output in a few large chunks, not 16 KiB ones (each one a copy and a callback).
  const z = zlib as unknown as { zstdCompressSync?: (buf: Buffer, opts: object) => Buffer };
  return z.zstdCompressSync?.(data, { chunkSize: 1 << 20, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
}
