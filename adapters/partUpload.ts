/**
 * A streamed multipart upload into kept part buffers: the backup's stream is copied once into one
 * of queueSize + 1 buffers of partSize, hashed as it is read, and each full buffer is sent as a
 * part and reused when its part is stored. lib-storage's Upload gathers each part from the
 * stream's chunks with a fresh Buffer.concat (a new partSize buffer per part, faulted in, then
 * collected), and the backup ran its bytes through a hashing Transform before it: both cost CPU
 * that, on a small host, comes off pg_basebackup's own rate, and the fresh buffers raised the
 * agent's peak memory. Semantics are lib-storage's: one PUT when everything fits in one part,
 * CRC32 per part when the client computes checksums, and the upload aborted on any failure.
 */
import { createHash } from 'node:crypto';
import { releaseNow } from './release.js';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';

/** What the object is created with (the PutObject fields a multipart upload also takes). */
export type PartUploadParams = Pick<
  PutObjectCommandInput,
  'Bucket' | 'Key' | 'ContentType' | 'Metadata' | 'ObjectLockMode' | 'ObjectLockRetainUntilDate' | 'ObjectLockLegalHoldStatus'
>;

export interface PartUploadOptions {
  s3: S3Client;
  params: PartUploadParams & { Bucket: string; Key: string };
  /** Bytes per part (the last may be shorter); at least S3's 5 MiB. */
  partSize: number;
  /** Parts in flight at once; with partSize, the upload's memory bound ((queueSize + 1) × partSize). */
  queueSize: number;
  /** Also sha256 the bytes read (the backup's plaintext hash when nothing transforms them first). */
  hash?: boolean;
  signal?: AbortSignal;
  /** Bytes read so far, after each chunk (progress). */
  onBytes?: (bytes: number) => void;
}

export interface PartUploadResult {
  bytes: number;
  /** Hex sha256 of the bytes read; only with hash. */
  sha256?: string;
  parts: number;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;

/**
 * A source read straight into the upload's part buffers, with no buffer allocated per read (a
 * pipe from a tool: pipeReader.ts). Resolves the bytes read; 0 at the end. The caller closes it.
 */
export interface ChunkReader {
  readInto(into: Buffer, offset: number, length: number): Promise<number>;
}

/**
 * The part buffers, once the object is stored: every request that read them has been answered,
 * so their memory goes back now (release.ts). After a failure they are left to the collector:
 * a request that failed may not have finished reading its body.
 */
function releaseAll(current: Buffer, free: Buffer[]): void {
  for (const b of new Set([current, ...free])) releaseNow(b);
  free.length = 0;
}

/** Uploads everything `source` yields as one object; on failure nothing of it is left (parts aborted). */
export async function uploadStream(source: Readable | ChunkReader, o: PartUploadOptions): Promise<PartUploadResult> {
  const stream = 'readInto' in source ? undefined : source;
  const invalid =
    !Number.isInteger(o.partSize) || o.partSize < MIN_PART_SIZE
      ? `partSize ${o.partSize} is invalid: expected an integer of at least ${MIN_PART_SIZE} bytes`
      : !Number.isInteger(o.queueSize) || o.queueSize < 1
        ? `queueSize ${o.queueSize} is invalid: expected an integer of at least 1`
        : undefined;
  if (invalid) {
    // Nothing will read the source: end it, so whatever writes into it stops too. Destroyed without
    // an error: the caller gets the error from this call, and an 'error' event nobody listens for
    // would be an uncaught exception.
    stream?.destroy();
    throw new Error(invalid);
  }
  const { s3, params, signal } = o;
  const hash = o.hash ? createHash('sha256') : undefined;
  const free: Buffer[] = [];
  const inflight = new Set<Promise<void>>();
  const done: CompletedPart[] = [];
  let uploadId: string | undefined;
  let creating: Promise<string> | undefined;
  let failure: unknown;
  let bytes = 0;
  let partNumber = 0;

  const opts = { abortSignal: signal };
  const createUpload = async (): Promise<string> => {
    const checksums = (await s3.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
    const r = await s3.send(
      new CreateMultipartUploadCommand({ ...params, ...(checksums ? { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 } : {}) }),
      opts,
    );
    if (!r.UploadId) throw new Error(`CreateMultipartUpload of ${params.Key} answered no UploadId`);
    uploadId = r.UploadId;
    return r.UploadId;
  };
  const sendPart = (buf: Buffer, length: number): void => {
    const n = ++partNumber;
    const p = (async () => {
      try {
        const id = await (creating ??= createUpload());
        const r = await s3.send(
          new UploadPartCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: id, PartNumber: n, Body: buf.subarray(0, length) }),
          opts,
        );
        if (!r.ETag) throw new Error(`UploadPart ${n} of ${params.Key} answered no ETag`);
        done.push({ PartNumber: n, ETag: r.ETag, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}) });
      } catch (err) {
        failure ??= err;
        // Stop reading at once (the loop may be waiting for the source's next chunk). A reader's
        // loop stops at its next read; its caller stops the tool that writes into it.
        stream?.destroy();
      } finally {
        free.push(buf);
      }
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  /** Waits until fewer than queueSize parts are in flight. */
  const room = async (): Promise<void> => {
    while (inflight.size >= o.queueSize) await Promise.race(inflight);
  };
  /** A buffer to fill: a kept one, else a new one (at most queueSize in flight and this one: queueSize + 1 in all). */
  const nextBuffer = (): Buffer => free.pop() ?? Buffer.allocUnsafeSlow(o.partSize);

  // Cancelled: stop reading at once too.
  const onAbort = () => stream?.destroy();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let buf = nextBuffer();
    let filled = 0;
    /** n more bytes are in buf at filled: hashed, counted, and the part sent when full. */
    const took = async (n: number): Promise<void> => {
      hash?.update(buf.subarray(filled, filled + n));
      bytes += n;
      filled += n;
      if (filled === o.partSize) {
        await room();
        if (failure) return;
        sendPart(buf, filled);
        buf = nextBuffer();
        filled = 0;
      }
    };
    if (stream) {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        if (failure) break;
        for (let at = 0; at < chunk.length && !failure;) {
          const n = chunk.copy(buf, filled, at);
          at += n;
          await took(n);
        }
        o.onBytes?.(bytes);
      }
    } else {
      while (!failure) {
        const n = await (source as ChunkReader).readInto(buf, filled, o.partSize - filled);
        if (n === 0) break;
        await took(n);
        o.onBytes?.(bytes);
      }
    }
    signal?.throwIfAborted();
    if (!failure && partNumber === 0) {
      // Everything fits in one part: one PUT, as lib-storage does.
      await s3.send(new PutObjectCommand({ ...params, Body: buf.subarray(0, filled) }), opts);
      releaseAll(buf, free);
      return { bytes, parts: 1, ...(hash ? { sha256: hash.digest('hex') } : {}) };
    }
    if (!failure && filled > 0) {
      await room();
      if (!failure) sendPart(buf, filled);
    }
    while (inflight.size) await Promise.race(inflight);
    if (failure) throw failure;
    done.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId, MultipartUpload: { Parts: done } }),
      opts,
    );
    releaseAll(buf, free);
    return { bytes, parts: done.length, ...(hash ? { sha256: hash.digest('hex') } : {}) };
  } catch (err) {
    // The parts in flight settle first: an abort racing an UploadPart could leave that part stored.
    await Promise.allSettled([...inflight]);
    const id = uploadId ?? (creating ? await creating.catch(() => undefined) : undefined);
    if (id) await s3.send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: id })).catch(() => undefined);
    throw failure ?? signal?.reason ?? err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
