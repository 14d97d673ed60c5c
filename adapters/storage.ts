/**
 * S3-compatible storage: one client per worker, TLS verified against the configured CA
 * (verification is only ever off when the config explicitly says insecureSkipTlsVerify).
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import {
  S3Client,
  HeadBucketCommand,
  ListObjectsV2Command,
  GetObjectCommand,
  PutObjectCommand,
  DeleteObjectsCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { PgdrConfig } from '../config/schema.js';
import type { SecretReader } from './secrets.js';
import { StorageUnavailableError } from '../domain/errors.js';

export function createS3Client(storage: PgdrConfig['storage'], readSecret: SecretReader): S3Client {
  const httpsAgent = new Agent({
    keepAlive: true,
    maxSockets: 16,
    ca: storage.caFile ? readFileSync(storage.caFile) : undefined,
    rejectUnauthorized: !storage.insecureSkipTlsVerify,
  });
  return new S3Client({
    endpoint: storage.endpoint,
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    // Resolved lazily, on the worker, each time the SDK needs them.
    credentials: async () => ({
      accessKeyId: readSecret(storage.accessKeyId, 'storage.accessKeyId'),
      secretAccessKey: readSecret(storage.secretAccessKey, 'storage.secretAccessKey'),
    }),
    requestHandler: new NodeHttpHandler({ httpsAgent, connectionTimeout: 5000, requestTimeout: 60000 }),
    maxAttempts: 3,
  });
}

/** Throws unless the bucket exists and the credentials may use it. */
export async function checkBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new HeadBucketCommand({ Bucket: bucket }));
}

/** True for an error that says storage could not be reached (not one that says no). */
export function isUnreachable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  if ((e?.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  if (e?.name === 'TimeoutError') return true;
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|EPIPE|socket hang up/.test(
    `${e?.code ?? ''} ${e?.message ?? ''}`,
  );
}

/**
 * Waits until the bucket answers, for at most waitSeconds, calling beat every poll (so a long
 * outage shows in the Temporal UI as "waiting for storage" instead of burning retry attempts).
 * An error that is not an outage (403, no such bucket) is thrown at once.
 */
export async function awaitStorage(
  s3: S3Client,
  storage: Pick<PgdrConfig['storage'], 'endpoint' | 'bucket' | 'outageWaitSeconds'>,
  opts: {
    beat: (detail: { phase: 'waiting for storage'; endpoint: string; waitedSeconds: number; error: string }) => void;
    signal: AbortSignal;
    pollMs?: number;
  },
): Promise<{ waitedSeconds: number }> {
  const t0 = Date.now();
  for (;;) {
    try {
      await checkBucket(s3, storage.bucket);
      return { waitedSeconds: Math.round((Date.now() - t0) / 100) / 10 };
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      const waitedSeconds = Math.floor((Date.now() - t0) / 1000);
      const message = (err as Error).message;
      if (waitedSeconds >= storage.outageWaitSeconds) throw new StorageUnavailableError(storage.endpoint, waitedSeconds, message);
      opts.beat({ phase: 'waiting for storage', endpoint: storage.endpoint, waitedSeconds, error: message });
      if (opts.signal.aborted) throw opts.signal.reason;
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 2000));
    }
  }
}

/** `<prefix>/<cluster>/` — everything of one cluster lives under it. */
export function clusterPrefix(storage: PgdrConfig['storage'], cluster: string): string {
  return `${storage.prefix}/${cluster}/`;
}

/** Every key under a prefix (paginated). */
export async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<{ key: string; bytes: number; lastModified?: Date }[]> {
  const out: { key: string; bytes: number; lastModified?: Date }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, bytes: o.Size ?? 0, lastModified: o.LastModified });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function getJson<T>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  try {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return JSON.parse(await res.Body!.transformToString('utf8')) as T;
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

/** Every JSON object under a prefix, in key order (reports are named to sort by time). */
export async function listJson<T>(s3: S3Client, bucket: string, prefix: string): Promise<T[]> {
  const keys = (await listKeys(s3, bucket, prefix)).map((k) => k.key).sort();
  const out: T[] = [];
  for (const k of keys) {
    const v = await getJson<T>(s3, bucket, k);
    if (v) out.push(v);
  }
  return out;
}

/** The JSON object with the greatest key under a prefix (the newest report), if any. */
export async function lastJson<T>(s3: S3Client, bucket: string, prefix: string): Promise<T | undefined> {
  const last = (await listKeys(s3, bucket, prefix))
    .map((k) => k.key)
    .sort()
    .at(-1);
  return last ? getJson<T>(s3, bucket, last) : undefined;
}

/** Writes a JSON object, replacing any there (for a result of which only the newest is kept). */
export async function putJson(s3: S3Client, bucket: string, key: string, value: unknown): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: JSON.stringify(value, null, 2), ContentType: 'application/json' }));
}

/**
 * Writes a JSON object only where none exists (If-None-Match: *), so a retry can never
 * replace what an earlier attempt wrote. Returns false when the key was already there.
 */
export async function putJsonIfAbsent(s3: S3Client, bucket: string, key: string, value: unknown): Promise<boolean> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(value, null, 2),
        ContentType: 'application/json',
        IfNoneMatch: '*',
      }),
    );
    return true;
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) return false;
    throw err;
  }
}

/** Deletes keys in batches of 1000; throws naming the first key S3 refused. */
export async function deleteKeys(s3: S3Client, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const res = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }),
    );
    const failed = res.Errors?.[0];
    if (failed) throw new Error(`s3 refused to delete ${failed.Key}: ${failed.Code} ${failed.Message}`);
  }
}
