/**
 * S3-compatible storage: one client per worker, TLS verified against the configured CA
 * (verification is only ever off when the config explicitly says insecureSkipTlsVerify).
 * This is the one place that decides how pgdr signs in to S3 (static keys from the config,
 * else the AWS SDK's default credential chain) and how the objects it writes are encrypted.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  S3Client,
  HeadBucketCommand,
  ListObjectsV2Command,
  GetObjectCommand,
  PutObjectCommand,
  DeleteObjectsCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type ObjectLockMode,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { PgdrConfig } from '../config/schema.js';
import type { SecretReader } from './secrets.js';
import { ObjectLockUnavailableError, SecretUnavailableError, StorageUnavailableError } from '../domain/errors.js';
import { lockRetainUntil } from '../domain/objectLock.js';

type Storage = PgdrConfig['storage'];

/** SigV4's payload hash header. */
const CONTENT_SHA256 = 'x-amz-content-sha256';

/** The commands that create an object: every one of them carries the configured encryption. */
const WRITES = new Set(['PutObjectCommand', 'CreateMultipartUploadCommand', 'CopyObjectCommand']);

/** The S3 request fields that ask for the configured server-side encryption (none: no fields). */
export function sseParams(storage: Pick<Storage, 'serverSideEncryption' | 'kmsKeyId'>): {
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
} {
  if (storage.serverSideEncryption === 'aes256') return { ServerSideEncryption: 'AES256' };
  if (storage.serverSideEncryption === 'kms')
    return { ServerSideEncryption: 'aws:kms', ...(storage.kmsKeyId ? { SSEKMSKeyId: storage.kmsKeyId } : {}) };
  return {};
}

/**
 * The S3 request fields that lock a base backup object, manifest or WAL/.history object written
 * now (storage.objectLock unset: no fields). Every writer of those objects spreads this, once.
 */
export function objectLockParams(
  storage: Pick<Storage, 'objectLock'>,
  now = new Date(),
): { ObjectLockMode?: ObjectLockMode; ObjectLockRetainUntilDate?: Date } {
  if (!storage.objectLock) return {};
  return {
    ObjectLockMode: storage.objectLock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
    ObjectLockRetainUntilDate: lockRetainUntil(storage.objectLock, now),
  };
}

/** The endpoint, for messages: the configured one, else the AWS regional endpoint the SDK uses. */
export function storageEndpoint(storage: Pick<Storage, 'endpoint' | 'region'>): string {
  return storage.endpoint ?? `https://s3.${storage.region}.amazonaws.com`;
}

/** True when the config names static keys; false means the AWS SDK's default credential chain. */
export function hasStaticKeys(storage: Storage): storage is Storage & Required<Pick<Storage, 'accessKeyId' | 'secretAccessKey'>> {
  return storage.accessKeyId !== undefined && storage.secretAccessKey !== undefined;
}

export function createS3Client(storage: Storage, readSecret: SecretReader): S3Client {
  const httpsAgent = new Agent({
    keepAlive: true,
    maxSockets: 16,
    ca: storage.caFile ? readFileSync(storage.caFile) : undefined,
    rejectUnauthorized: !storage.insecureSkipTlsVerify,
  });
  const keys = hasStaticKeys(storage) ? storage : undefined;
  const s3 = new S3Client({
    endpoint: storage.endpoint,
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    // Static keys are resolved lazily, on the worker, each time the SDK needs them. Without
    // them the SDK's default chain decides (env incl. AWS_SESSION_TOKEN, SSO and profiles,
    // web identity, container and instance roles), refreshing temporary credentials itself.
    ...(keys
      ? {
          credentials: async () => ({
            accessKeyId: readSecret(keys.accessKeyId, 'storage.accessKeyId'),
            secretAccessKey: readSecret(keys.secretAccessKey, 'storage.secretAccessKey'),
          }),
        }
      : {}),
    // socketTimeout: requestTimeout alone only logs a warning in this SDK; a silent peer (a partition
    // that drops packets) would hold a request, and the upload or fetch behind it, forever.
    requestHandler: new NodeHttpHandler({
      httpsAgent,
      connectionTimeout: 5000,
      requestTimeout: 60000,
      socketTimeout: storage.idleTimeoutSeconds * 1000,
    }),
    maxAttempts: 3,
  });
  // Every object pgdr writes (WAL, base backups, manifests, reports, the catalog) goes through
  // one of these commands: ask for the configured encryption here, once, not at each call.
  const sse = sseParams(storage);
  if (Object.keys(sse).length) {
    s3.middlewareStack.add(
      (next, context) => async (args) =>
        next(WRITES.has(context.commandName ?? '') ? { ...args, input: { ...args.input, ...sse } as typeof args.input } : args),
      { step: 'initialize', name: 'pgdrServerSideEncryption' },
    );
  }
  // Over TLS a body needs no second hash in the request's signature: TLS protects it in transit,
  // the checksum the SDK sends with every upload (CRC32, checked by the storage) protects it into
  // storage, and pgdr records and checks its own sha256 of what it stores. Hashing every body for
  // SigV4 cost about 74 ms of CPU per 80 MB uploaded (measured), CPU that a backup or the
  // archiver takes from Postgres and pg_basebackup on the same cores. Plain HTTP, and TLS whose
  // certificate is not verified (insecureSkipTlsVerify), keep the signed hash.
  if (storageEndpoint(storage).startsWith('https:') && !storage.insecureSkipTlsVerify) {
    type Step = (args: { request: unknown }) => Promise<unknown>;
    const unsignedPayload = (next: Step) => async (args: { request: unknown }) => {
      const request = args.request as { headers?: Record<string, string>; body?: unknown };
      if (request.headers && request.body !== undefined && !(CONTENT_SHA256 in request.headers))
        request.headers[CONTENT_SHA256] = 'UNSIGNED-PAYLOAD';
      return next(args);
    };
    s3.middlewareStack.addRelativeTo(unsignedPayload as unknown as Parameters<typeof s3.middlewareStack.addRelativeTo>[0], {
      relation: 'before',
      toMiddleware: 'httpSigningMiddleware',
      name: 'pgdrUnsignedPayloadOverTls',
    });
  }
  if (!keys) {
    s3.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          if ((err as Error)?.name !== 'CredentialsProviderError') throw err;
          throw new SecretUnavailableError(
            'storage credentials',
            `storage.accessKeyId and storage.secretAccessKey are not set, and the AWS default credential chain found none: ${(err as Error).message}`,
            'set storage.accessKeyId and storage.secretAccessKey, or give this process AWS credentials: AWS_ACCESS_KEY_ID and ' +
              'AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN, an AWS profile, or an instance role',
          );
        }
      },
      { step: 'initialize', name: 'pgdrCredentialsError', priority: 'high' },
    );
  }
  return s3;
}

/** Throws unless the bucket exists and the credentials may use it. */
export async function checkBucket(s3: S3Client, bucket: string, signal?: AbortSignal): Promise<void> {
  await s3.send(new HeadBucketCommand({ Bucket: bucket }), signal ? { abortSignal: signal } : {});
}

/** Whether the bucket has Object Lock enabled, and its default retention if any, as a line for logs. */
export async function objectLockState(s3: S3Client, bucket: string): Promise<{ enabled: boolean; detail: string }> {
  try {
    const res = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    const conf = res.ObjectLockConfiguration;
    if (conf?.ObjectLockEnabled !== 'Enabled') return { enabled: false, detail: 'has an object lock configuration that is not enabled' };
    const rule = conf.Rule?.DefaultRetention;
    const dflt = rule ? `, default retention ${rule.Mode} ${rule.Days ? `${rule.Days}d` : `${rule.Years}y`}` : ', no default retention';
    return { enabled: true, detail: `has object lock enabled${dflt}` };
  } catch (err) {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e.name === 'ObjectLockConfigurationNotFoundError' || e.$metadata?.httpStatusCode === 404)
      return { enabled: false, detail: 'has no object lock configuration' };
    if (e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501)
      return { enabled: false, detail: 'is on a store that does not implement object lock' };
    throw err;
  }
}

/**
 * The start-up bucket check of Object Lock: returns the line to log, and refuses storage.objectLock
 * against a bucket without it (every locked write would fail there).
 */
export async function checkObjectLock(s3: S3Client, storage: Pick<Storage, 'bucket' | 'objectLock'>): Promise<string> {
  const state = await objectLockState(s3, storage.bucket);
  const lock = storage.objectLock;
  if (lock && !state.enabled)
    throw new ObjectLockUnavailableError(storage.bucket, `{mode: ${lock.mode}, days: ${lock.days}}`, state.detail);
  return `bucket "${storage.bucket}" ${state.detail}; ${lock ? `pgdr locks what it writes (${lock.mode}, ${lock.days} day(s) plus a one-day margin)` : 'pgdr writes no locks (storage.objectLock unset)'}`;
}

/** One version of an object in a versioned bucket (a delete marker has no bytes and no lock). */
export interface ObjectVersion {
  key: string;
  versionId: string;
  deleteMarker: boolean;
  bytes: number;
}

/** Every version and delete marker under a prefix (paginated). */
export async function listVersions(s3: S3Client, bucket: string, prefix: string): Promise<ObjectVersion[]> {
  const out: ObjectVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
    );
    for (const v of page.Versions ?? [])
      if (v.Key && v.VersionId) out.push({ key: v.Key, versionId: v.VersionId, deleteMarker: false, bytes: v.Size ?? 0 });
    for (const m of page.DeleteMarkers ?? [])
      if (m.Key && m.VersionId) out.push({ key: m.Key, versionId: m.VersionId, deleteMarker: true, bytes: 0 });
    keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
    versionMarker = page.IsTruncated ? page.NextVersionIdMarker : undefined;
  } while (keyMarker);
  return out;
}

/** The lock on one version: its retain-until and mode, or nulls when it has none (delete markers never do). */
export async function versionLock(
  s3: S3Client,
  bucket: string,
  v: ObjectVersion,
): Promise<{ retainUntil: Date | null; mode: 'governance' | 'compliance' | null }> {
  if (v.deleteMarker) return { retainUntil: null, mode: null };
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: v.key, VersionId: v.versionId }));
  const mode = head.ObjectLockMode === 'COMPLIANCE' ? 'compliance' : head.ObjectLockMode === 'GOVERNANCE' ? 'governance' : null;
  return { retainUntil: head.ObjectLockRetainUntilDate ?? null, mode };
}

/**
 * Deletes exact versions (and delete markers), in batches of 1000; never a plain delete, which on
 * a versioned bucket only adds a delete marker that hides a still-stored (maybe locked) version.
 * Throws naming the first version S3 refused (a locked one: AccessDenied).
 */
export async function deleteVersions(s3: S3Client, bucket: string, versions: Pick<ObjectVersion, 'key' | 'versionId'>[]): Promise<void> {
  for (let i = 0; i < versions.length; i += 1000) {
    const batch = versions.slice(i, i + 1000);
    const res = await s3.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: batch.map((v) => ({ Key: v.key, VersionId: v.versionId })), Quiet: true },
      }),
    );
    const failed = res.Errors?.[0];
    if (failed) throw new Error(`s3 refused to delete ${failed.Key} version ${failed.VersionId}: ${failed.Code} ${failed.Message}`);
  }
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
  storage: Pick<Storage, 'endpoint' | 'region' | 'bucket' | 'outageWaitSeconds'>,
  opts: {
    beat: (detail: { phase: 'waiting for storage'; endpoint: string; waitedSeconds: number; error: string }) => void;
    signal: AbortSignal;
    pollMs?: number;
  },
): Promise<{ waitedSeconds: number }> {
  const t0 = Date.now();
  for (;;) {
    try {
      await checkBucket(s3, storage.bucket, opts.signal);
      return { waitedSeconds: Math.round((Date.now() - t0) / 100) / 10 };
    } catch (err) {
      // Stopped (the activity's cancel, or a refusal found meanwhile): at once, with its reason.
      if (opts.signal.aborted) throw opts.signal.reason;
      if (!isUnreachable(err)) throw err;
      const waitedSeconds = Math.floor((Date.now() - t0) / 1000);
      const message = (err as Error).message;
      const endpoint = storageEndpoint(storage);
      if (waitedSeconds >= storage.outageWaitSeconds) throw new StorageUnavailableError(endpoint, waitedSeconds, message);
      opts.beat({ phase: 'waiting for storage', endpoint, waitedSeconds, error: message });
      await sleep(opts.pollMs ?? 2000, undefined, { signal: opts.signal }).catch(() => {
        throw opts.signal.reason;
      });
    }
  }
}

/** `<prefix>/<cluster>/` — everything of one cluster lives under it. */
export function clusterPrefix(storage: PgdrConfig['storage'], cluster: string): string {
  return `${storage.prefix}/${cluster}/`;
}

/** Every key under a prefix (paginated), or only those after `startAfter` in key order. */
export async function listKeys(
  s3: S3Client,
  bucket: string,
  prefix: string,
  startAfter?: string,
  /** Counts the LIST requests made (the WAL check reports them). */
  counter?: { calls: number },
): Promise<ListedKey[]> {
  const out: ListedKey[] = [];
  let token: string | undefined;
  do {
    const page = await listPage(s3, bucket, prefix, { startAfter, token }, counter);
    out.push(...page.keys);
    token = page.next;
  } while (token);
  return out;
}

export interface ListedKey {
  key: string;
  bytes: number;
  lastModified?: Date;
}

/** One LIST request: at most maxKeys keys (S3's default 1000) after startAfter (or the page `token` continues), and the token of the next. */
export async function listPage(
  s3: S3Client,
  bucket: string,
  prefix: string,
  at: { startAfter?: string | undefined; token?: string | undefined; maxKeys?: number },
  counter?: { calls: number },
): Promise<{ keys: ListedKey[]; next: string | undefined }> {
  if (counter) counter.calls++;
  const page = await s3.send(
    new ListObjectsV2Command({
      Bucket: bucket,
      Prefix: prefix,
      ...(at.token ? { ContinuationToken: at.token } : {}),
      ...(at.startAfter ? { StartAfter: at.startAfter } : {}),
      ...(at.maxKeys ? { MaxKeys: at.maxKeys } : {}),
    }),
  );
  const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ key: o.Key, bytes: o.Size ?? 0, lastModified: o.LastModified }] : []));
  return { keys, next: page.IsTruncated ? page.NextContinuationToken : undefined };
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

/** Every JSON object under a prefix (or after `startAfter`), in key order (reports are named to sort by time). */
export async function listJson<T>(s3: S3Client, bucket: string, prefix: string, startAfter?: string): Promise<T[]> {
  const keys = (await listKeys(s3, bucket, prefix, startAfter)).map((k) => k.key).sort();
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
export async function putJsonIfAbsent(
  s3: S3Client,
  bucket: string,
  key: string,
  value: unknown,
  lock: ReturnType<typeof objectLockParams> = {},
): Promise<boolean> {
  try {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(value, null, 2),
        ContentType: 'application/json',
        IfNoneMatch: '*',
        ...lock,
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
