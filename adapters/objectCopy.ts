/**
 * Copying objects between two S3 repositories (the offsite copy), checking on the far side.
 * Bytes are copied as stored (still compressed, still age-encrypted): the copy needs no key,
 * and what is checked is that the far object's bytes hash to what was read from the near one.
 */
import { createHash } from 'node:crypto';
import { Transform, pipeline as pipeStreams, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { PgdrConfig } from '../config/schema.js';
import { objectLockParams } from './storage.js';

type Storage = PgdrConfig['storage'];

/** One side of a copy: a bucket reached with its own client. */
export interface Side {
  s3: S3Client;
  storage: Storage;
}

/** The metadata key holding the sha256 of a copied WAL object's stored bytes. */
export const STORED_SHA256 = 'stored-sha256';

export function objectUrl(side: Pick<Side, 'storage'>, key: string): string {
  return `s3://${side.storage.bucket}/${key}`;
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412;
}

/** A pass-through stream that counts bytes and computes their sha256 (backups, copies, verification). */
export function hashingCounter(): Transform & { bytes: number; digest(): string } {
  const hash = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      t.bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { bytes: number; digest(): string };
  t.bytes = 0;
  t.digest = () => hash.digest('hex');
  return t;
}

/** The near object as a GetObject answer, or undefined when it is gone. */
async function getNear(from: Side, key: string, signal: AbortSignal | undefined) {
  try {
    return await from.s3.send(new GetObjectCommand({ Bucket: from.storage.bucket, Key: key }), { abortSignal: signal });
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** The object's metadata, or undefined when there is no such object. */
export async function headMetadata(side: Side, key: string): Promise<Record<string, string> | undefined> {
  try {
    return (await side.s3.send(new HeadObjectCommand({ Bucket: side.storage.bucket, Key: key }))).Metadata ?? {};
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

/** The sha256 and size of an object's stored bytes (streamed), or undefined when it is missing. */
export async function hashObject(side: Side, key: string, signal?: AbortSignal): Promise<{ sha256: string; bytes: number } | undefined> {
  let body: Readable;
  try {
    const res = await side.s3.send(new GetObjectCommand({ Bucket: side.storage.bucket, Key: key }), { abortSignal: signal });
    body = res.Body as Readable;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  const h = hashingCounter();
  await pipeline(body, h, async (source: AsyncIterable<Buffer>) => {
    for await (const _ of source) void _;
  });
  return { sha256: h.digest(), bytes: h.bytes };
}

export type CopyOutcome =
  | { state: 'copied' | 'present'; bytes: number; storedSha256: string }
  /** The near object is gone (expired meanwhile). */
  | { state: 'gone' }
  /** The far object differs from the near one (a problem naming it). */
  | { state: 'conflict'; problem: string };

/**
 * Streams one object (any size, multipart) from `from` to `to`, hashing on the way, then hashes
 * what `to` stored. A far object already there is compared, never replaced.
 */
export async function copyStreamed(from: Side, to: Side, key: string, toKey: string, signal?: AbortSignal): Promise<CopyOutcome> {
  const there = await headMetadata(to, toKey);
  if (there !== undefined) {
    const [near, far] = await Promise.all([hashObject(from, key, signal), hashObject(to, toKey, signal)]);
    if (!near) return { state: 'gone' };
    if (far && far.sha256 === near.sha256) return { state: 'present', bytes: far.bytes, storedSha256: far.sha256 };
    return { state: 'conflict', problem: `${objectUrl(to, toKey)} is already there with other bytes than ${objectUrl(from, key)}` };
  }
  const res = await getNear(from, key, signal);
  if (!res) return { state: 'gone' };
  const h = hashingCounter();
  // pipeline, not pipe: a read that fails half-way fails the upload too (pipe would leave it waiting).
  pipeStreams(res.Body as Readable, h, (err) => {
    if (err) h.destroy(err);
  });
  const upload = new Upload({
    client: to.s3,
    params: {
      Bucket: to.storage.bucket,
      Key: toKey,
      Body: h,
      ContentType: res.ContentType,
      Metadata: res.Metadata,
      ...objectLockParams(to.storage),
    },
    partSize: 16 * 1024 * 1024,
    queueSize: 4,
    leavePartsOnError: false,
  });
  const onAbort = () => void upload.abort();
  signal?.addEventListener('abort', onAbort);
  try {
    await upload.done();
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return checkFar(to, toKey, { bytes: h.bytes, storedSha256: h.digest() }, signal);
}

/**
 * Copies one small object (a WAL segment or .history file) through memory: its stored bytes'
 * sha256 goes into the far object's metadata (STORED_SHA256), so verification needs neither
 * the near side nor a key. Conditional (If-None-Match: *): never replaces a far object.
 */
export async function copyBuffered(from: Side, to: Side, key: string, toKey: string, signal?: AbortSignal): Promise<CopyOutcome> {
  const res = await getNear(from, key, signal);
  if (!res) return { state: 'gone' };
  const body = Buffer.from(await res.Body!.transformToByteArray());
  const storedSha256 = createHash('sha256').update(body).digest('hex');
  try {
    await to.s3.send(
      new PutObjectCommand({
        Bucket: to.storage.bucket,
        Key: toKey,
        Body: body,
        ContentType: res.ContentType,
        Metadata: { ...res.Metadata, [STORED_SHA256]: storedSha256 },
        IfNoneMatch: '*',
        ...objectLockParams(to.storage),
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    if (!isPreconditionFailed(err)) throw err;
    // Already there (a retried or concurrent copy): the same bytes are fine, others a conflict.
    const there = await headMetadata(to, toKey);
    if (there?.[STORED_SHA256] !== storedSha256)
      return { state: 'conflict', problem: `${objectUrl(to, toKey)} is already there with other bytes than ${objectUrl(from, key)}` };
    return checkFar(to, toKey, { bytes: body.length, storedSha256 }, signal, 'present');
  }
  return checkFar(to, toKey, { bytes: body.length, storedSha256 }, signal);
}

async function checkFar(
  to: Side,
  toKey: string,
  near: { bytes: number; storedSha256: string },
  signal: AbortSignal | undefined,
  state: 'copied' | 'present' = 'copied',
): Promise<CopyOutcome> {
  const far = await hashObject(to, toKey, signal);
  if (!far) return { state: 'conflict', problem: `${objectUrl(to, toKey)} is missing right after it was written` };
  if (far.sha256 !== near.storedSha256)
    return { state: 'conflict', problem: `${objectUrl(to, toKey)} has sha256 ${far.sha256}, expected ${near.storedSha256}` };
  return { state, ...near };
}
