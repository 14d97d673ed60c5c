/**
 * WAL in S3: `pgdr wal push` (archive_command) and `pgdr wal fetch` (restore_command), plus the
 * archive listing the checks use. Objects live at `<prefix>/<cluster>/wal/<name>[.zst|.gz]`,
 * carrying the sha256 and size of the uncompressed file in their metadata.
 *
 * With age recipients configured, the compressed bytes are encrypted (adapters/age.ts) and the
 * object's metadata says `encryption: age`; the sha256 stays over the uncompressed plaintext.
 * Reading decrypts what says so, with the cluster's identities; older plaintext objects read as before.
 *
 * Push never overwrites: an object that already exists with the same sha256 is success (a
 * retried archive_command), with a different one a WalConflictError. The write itself is
 * conditional (If-None-Match: *), so two racing pushers cannot replace each other either.
 */
import { createHash, webcrypto } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import zlib, { gunzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { EncryptionKeyError, ToolFailedError, WalConflictError, WalCorruptError } from '../domain/errors.js';
import { assertWalFileName } from '../domain/wal.js';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf } from '../config/lookup.js';
import { runFilter } from './gateway.js';
import { decryptBuffer, encryptBuffer, encryptionMetadata, isAgeEncrypted, recipientsOf } from './age.js';
import type { SecretReader } from './secrets.js';
import { clusterPrefix, listKeys, objectLockParams } from './storage.js';
import { walFolder } from './catalogStore.js';
import { compressSync, type PreparedWal, type WalCompression } from './walPrepare.js';

export type { PreparedWal, WalCompression } from './walPrepare.js';

const SUFFIX: Record<WalCompression, string> = { zstd: '.zst', gzip: '.gz', none: '' };

export interface WalDeps {
  config: PgdrConfig;
  s3: S3Client;
  /** Resolves the age identities, to read an encrypted archive; pushing never needs it. */
  readSecret?: SecretReader;
}

/** The keys a WAL file may be stored under: the configured compression first. */
function candidateKeys(deps: WalDeps, cluster: string, name: string): { key: string; compression: WalCompression }[] {
  const preferred = clusterOf(deps.config, cluster).archive.compression;
  const order: WalCompression[] = [preferred, ...(['zstd', 'gzip', 'none'] as const).filter((c) => c !== preferred)];
  return order.map((compression) => ({ key: `${walFolder(deps.config.storage, cluster)}${name}${SUFFIX[compression]}`, compression }));
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/**
 * sha256 of a whole segment on the thread pool (WebCrypto's digest), not on the event loop: the
 * agent hashes several segments at once, and 16 MiB takes the loop 15 ms otherwise.
 */
async function sha256Off(data: Uint8Array): Promise<string> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data)).toString('hex');
}

async function headSha(s3: S3Client, bucket: string, key: string): Promise<string | null | undefined> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.Metadata?.sha256 ?? null;
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
}

type ZstdZlib = {
  zstdCompress: (buf: Buffer, opts: object, cb: (err: Error | null, out: Buffer) => void) => void;
  zstdDecompress: (buf: Buffer, cb: (err: Error | null, out: Buffer) => void) => void;
};

/** Node's own zstd (22.15 and later), or undefined on an older runtime (the zstd tool then). */
function zstdOf(): ZstdZlib | undefined {
  const z = zlib as unknown as Partial<ZstdZlib>;
  return typeof z.zstdCompress === 'function' && typeof z.zstdDecompress === 'function' ? (z as ZstdZlib) : undefined;
}

async function compress(data: Buffer, compression: WalCompression, level: number): Promise<Buffer> {
  if (compression !== 'zstd') return compressSync(data, compression, level)!;
  // In process on the thread pool where Node has zstd (22.15+): no process start per segment.
  const z = zstdOf();
  if (z) return promisify(z.zstdCompress)(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
  return runFilter('zstd', ['-q', '-c', `-${level}`, '--no-progress'], data);
}

async function decompress(data: Buffer, compression: WalCompression): Promise<Buffer> {
  if (compression === 'none') return data;
  if (compression === 'gzip') return gunzipSync(data);
  const z = zstdOf();
  if (z) return promisify(z.zstdDecompress)(data);
  return runFilter('zstd', ['-q', '-d', '-c'], data);
}

/** The stored bytes of a pgdr WAL object as compressed plaintext: decrypted when its metadata says age. */
async function plainStored(deps: WalDeps, cluster: string, key: string, res: { Metadata?: Record<string, string> }, stored: Buffer) {
  if (!isAgeEncrypted(res.Metadata)) return stored;
  try {
    return await decryptBuffer(deps.config, deps.readSecret, cluster, `s3://${deps.config.storage.bucket}/${key}`, stored);
  } catch (err) {
    // A key problem stays one (EncryptionKeyError); anything age says about the bytes is corruption.
    if (err instanceof ToolFailedError)
      throw new WalCorruptError(cluster, key, `cannot decrypt: ${String(err.context.stderrTail).split('\n')[0]}`);
    throw err;
  }
}

export interface PushResult {
  name: string;
  key: string;
  bytes: number;
  storedBytes: number;
  /** False when the same content was already archived (a retried push). */
  uploaded: boolean;
}

/**
 * Reads, hashes and compresses one WAL file, and runs `use` with the result: on the event loop
 * (prepareOnLoop) or on a pusher thread (adapters/walPushers.ts). The body is the preparer's:
 * `use` must not keep it past its own success (the pushers give its memory back then).
 */
export type WalPreparer = <T>(
  path: string,
  compression: WalCompression,
  level: number,
  use: (prepared: PreparedWal) => Promise<T>,
) => Promise<T>;

/** On the event loop's terms: hashing and zstd on the thread pool, a fresh buffer per file (`pgdr wal push`). */
export const prepareOnLoop: WalPreparer = async (path, compression, level, use) => {
  const data = await readFile(path);
  const [digest, body] = await Promise.all([sha256Off(data), compress(data, compression, level)]);
  return use({ bytes: data.length, digest, body });
};

/**
 * Archives one WAL file. `path` is archive_command's %p: relative to the data directory, which
 * is the command's working directory.
 */
export async function pushWal(deps: WalDeps, cluster: string, path: string, prepare: WalPreparer = prepareOnLoop): Promise<PushResult> {
  const { name } = assertWalFileName(basename(path));
  const { bucket } = deps.config.storage;
  const candidates = candidateKeys(deps, cluster, name);
  // One listing finds the file under any compression suffix; it runs while we read, hash and compress.
  const listing = listKeys(deps.s3, bucket, `${walFolder(deps.config.storage, cluster)}${name}`);
  listing.catch(() => undefined);
  const { compression, compressionLevel } = clusterOf(deps.config, cluster).archive;
  const recipients = recipientsOf(deps.config, cluster);

  return prepare(path, compression, compressionLevel, async ({ bytes, digest, body: plain }) => {
    const existing = async (keys: Set<string>): Promise<PushResult | undefined> => {
      for (const c of candidates) {
        if (!keys.has(c.key)) continue;
        const sha = await headSha(deps.s3, bucket, c.key);
        if (sha === undefined) continue;
        if (sha !== digest) throw new WalConflictError(cluster, name, c.key, sha ?? '(none recorded)', digest);
        return { name, key: c.key, bytes, storedBytes: 0, uploaded: false };
      }
      return undefined;
    };
    const already = await existing(new Set((await listing).map((k) => k.key)));
    if (already) return already;

    const { key } = candidates[0]!;
    const body = recipients.length ? await encryptBuffer(plain, recipients) : plain;
    try {
      await deps.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          IfNoneMatch: '*',
          ContentType: 'application/octet-stream',
          Metadata: { sha256: digest, bytes: String(bytes), compression, ...encryptionMetadata(deps.config, cluster) },
          ...objectLockParams(deps.config.storage),
        }),
      );
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name !== 'PreconditionFailed' && e.$metadata?.httpStatusCode !== 412) throw err;
      // Someone stored it between our listing and our write: same content is fine, other content is refused.
      const raced = await existing(new Set(candidates.map((c) => c.key)));
      if (raced) return raced;
      throw err;
    }
    return { name, key, bytes, storedBytes: body.length, uploaded: true };
  });
}

export interface FetchResult {
  name: string;
  key: string;
  bytes: number;
}

/**
 * One archived WAL file's bytes, verified against the sha256 recorded at push (decrypted and
 * decompressed first): undefined when the archive does not have it, WalCorruptError naming the
 * object when it cannot be read back exactly.
 */
export async function readWal(deps: WalDeps, cluster: string, name: string): Promise<{ key: string; data: Buffer } | undefined> {
  assertWalFileName(name);
  const { bucket } = deps.config.storage;
  for (const { key, compression } of candidateKeys(deps, cluster, name)) {
    let res;
    try {
      res = await deps.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      if (isMissing(err)) continue;
      throw err;
    }
    const stored = await plainStored(deps, cluster, key, res, Buffer.from(await res.Body!.transformToByteArray()));
    let data: Buffer;
    try {
      data = await decompress(stored, (res.Metadata?.compression as WalCompression | undefined) ?? compression);
    } catch (err) {
      throw new WalCorruptError(cluster, key, `cannot decompress: ${(err as Error).message.split('\n')[0]}`);
    }
    const expected = res.Metadata?.sha256;
    if (!expected) throw new WalCorruptError(cluster, key, 'no sha256 recorded in its metadata');
    const actual = await sha256Off(data);
    if (actual !== expected) throw new WalCorruptError(cluster, key, `sha256 ${actual} does not match the recorded ${expected}`);
    return { key, data };
  }
  return undefined;
}

/**
 * Restores one WAL file to `dest` (restore_command's %p), verified against the sha256 recorded
 * at push, written to a temporary name and renamed so Postgres never reads half a file.
 * Returns undefined when the archive does not have it (normal at the end of recovery).
 */
export async function fetchWal(deps: WalDeps, cluster: string, name: string, dest: string): Promise<FetchResult | undefined> {
  const found = await readWal(deps, cluster, name);
  if (!found) return undefined;
  await writeAtomically(dest, found.data);
  return { name, key: found.key, bytes: found.data.length };
}

async function writeAtomically(dest: string, data: Buffer): Promise<void> {
  const tmp = join(dirname(dest), `.${basename(dest)}.pgdr-tmp`);
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    await rename(tmp, dest);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

export interface ArchivedWal {
  /** WAL file name without the compression suffix. */
  name: string;
  key: string;
  bytes: number;
  lastModified: string | null;
}

/** The key a WAL file is archived under, or undefined when it is not in the archive. */
export async function findArchived(deps: WalDeps, cluster: string, name: string): Promise<string | undefined> {
  assertWalFileName(name);
  if (clusterOf(deps.config, cluster).method === 'pgbackrest') {
    // Narrow listings: the archive's version folders, then the one segment in each.
    const root = `${clusterPrefix(deps.config.storage, cluster)}pgbackrest/archive/${cluster}/`;
    const bucket = deps.config.storage.bucket;
    const dirs = await deps.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: root, Delimiter: '/' }));
    for (const d of dirs.CommonPrefixes ?? []) {
      const prefix = /^[0-9A-F]{24}$/.test(name) ? `${d.Prefix}${name.slice(0, 16)}/${name}-` : `${d.Prefix}${name}`;
      const hit = (await listKeys(deps.s3, bucket, prefix))[0];
      if (hit) return hit.key;
    }
    return undefined;
  }
  for (const { key } of candidateKeys(deps, cluster, name)) {
    if ((await headSha(deps.s3, deps.config.storage.bucket, key)) !== undefined) return key;
  }
  return undefined;
}

/** Everything archived for a cluster, by WAL name (oldest name first); pgBackRest's archive for its clusters. */
export async function listArchivedWal(deps: WalDeps, cluster: string): Promise<ArchivedWal[]> {
  return listArchivedUnder(deps, cluster, archiveRoot(deps, cluster));
}

/** Where a cluster's archived WAL lives: pgdr's WAL folder, or pgBackRest's archive of the stanza. */
export function archiveRoot(deps: Pick<WalDeps, 'config'>, cluster: string): string {
  return clusterOf(deps.config, cluster).method === 'pgbackrest'
    ? `${clusterPrefix(deps.config.storage, cluster)}pgbackrest/archive/${cluster}/`
    : walFolder(deps.config.storage, cluster);
}

/**
 * What is archived under `prefix` (inside the archive root), optionally only after the key
 * `startAfter`, oldest name first. `counter.calls` counts the LIST requests made.
 */
export async function listArchivedUnder(
  deps: WalDeps,
  cluster: string,
  prefix: string,
  startAfter?: string,
  counter?: { calls: number },
): Promise<ArchivedWal[]> {
  return parseArchived(deps, cluster, await listKeys(deps.s3, deps.config.storage.bucket, prefix, startAfter, counter));
}

/** Listed keys of the archive as WAL files (pgBackRest's other files, such as archive.info, left out), oldest name first. */
export function parseArchived(
  deps: Pick<WalDeps, 'config'>,
  cluster: string,
  keys: { key: string; bytes: number; lastModified?: Date }[],
): ArchivedWal[] {
  const root = archiveRoot(deps, cluster);
  const pgbackrest = clusterOf(deps.config, cluster).method === 'pgbackrest';
  const out: ArchivedWal[] = [];
  for (const k of keys) {
    const lastModified = k.lastModified ? k.lastModified.toISOString() : null;
    if (!pgbackrest) {
      out.push({ name: k.key.slice(root.length).replace(/\.(zst|gz)$/, ''), key: k.key, bytes: k.bytes, lastModified });
      continue;
    }
    const m = PGBACKREST_WAL.exec(k.key.slice(k.key.lastIndexOf('/') + 1));
    if (m) out.push({ name: m[1] ?? m[4]!, key: k.key, bytes: k.bytes, lastModified });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** pgBackRest keeps WAL as archive/<stanza>/<version>-<id>/<first 16>/<segment>-<sha1>[.ext], history files beside. */
const PGBACKREST_WAL = /^([0-9A-F]{24})-([0-9a-f]{40})(?:\.(zst|gz|lz4|bz2))?$|^([0-9A-F]{8}\.history)$/;

/** A file of pgBackRest's archive as pgBackRest wrote it before encrypting (its repo-get decrypts), or as stored. */
async function pgbackrestObject(deps: WalDeps, cluster: string, key: string): Promise<Buffer> {
  if (clusterOf(deps.config, cluster).encryption.passphrase) {
    if (!deps.readSecret) throw new EncryptionKeyError(cluster, key, 'this process has no secret reader for the repo passphrase');
    // Loaded only here: the archive program's bundle stays lean.
    const { pgbackrestRepoGet } = await import('./pgbackrest.js');
    return pgbackrestRepoGet(deps.config, deps.readSecret, cluster, key);
  }
  const res = await deps.s3.send(new GetObjectCommand({ Bucket: deps.config.storage.bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

/**
 * Reads one archived segment for inspection (pg_waldump) into `dest`, from either layout:
 * pgdr's (sha256 in metadata) or pgBackRest's (sha1 of the content in the name).
 */
export async function fetchForReading(deps: WalDeps, cluster: string, name: string, dest: string): Promise<boolean> {
  if (clusterOf(deps.config, cluster).method !== 'pgbackrest') return (await fetchWal(deps, cluster, name, dest)) !== undefined;
  // Narrow listings (the version folders, then the one segment), not the whole archive.
  const key = await findArchived(deps, cluster, name);
  if (!key) return false;
  const found = { key };
  const stored = await pgbackrestObject(deps, cluster, found.key);
  const ext = /\.(zst|gz)$/.exec(found.key)?.[1];
  const data = ext === 'zst' ? await decompress(stored, 'zstd') : ext === 'gz' ? await decompress(stored, 'gzip') : stored;
  const sha1 = /-([0-9a-f]{40})/.exec(found.key)?.[1];
  if (sha1 && createHash('sha1').update(data).digest('hex') !== sha1)
    throw new WalCorruptError(cluster, found.key, `sha1 does not match the ${sha1} in its name`);
  await writeAtomically(dest, data);
  return true;
}

/** Reads one archived text file (a .history file) as UTF-8, or undefined when absent. */
export async function readArchivedText(deps: WalDeps, cluster: string, name: string): Promise<string | undefined> {
  assertWalFileName(name);
  if (clusterOf(deps.config, cluster).method === 'pgbackrest') {
    const key = await findArchived(deps, cluster, name);
    return key ? (await pgbackrestObject(deps, cluster, key)).toString('utf8') : undefined;
  }
  for (const { key, compression } of candidateKeys(deps, cluster, name)) {
    try {
      const res = await deps.s3.send(new GetObjectCommand({ Bucket: deps.config.storage.bucket, Key: key }));
      const stored = await plainStored(deps, cluster, key, res, Buffer.from(await res.Body!.transformToByteArray()));
      return (await decompress(stored, (res.Metadata?.compression as WalCompression | undefined) ?? compression)).toString('utf8');
    } catch (err) {
      if (isMissing(err)) continue;
      throw err;
    }
  }
  return undefined;
}

/**
 * The uncompressed size of the newest archived segment (its name with it), for the segment-size
 * judge: pgdr's objects carry it in their metadata (one HEAD), uncompressed objects in the
 * listing. A compressed pgBackRest segment is read and decompressed only with `decompress`
 * (when nothing else tells the size). Null when there is no segment to look at.
 */
export async function archivedSegmentSize(
  deps: WalDeps,
  cluster: string,
  archived: ArchivedWal[],
  opts: { decompress: boolean },
): Promise<{ name: string; bytes: number } | null> {
  const segments = archived.filter((a) => /^[0-9A-F]{24}$/.test(a.name));
  const newest = segments.at(-1);
  if (!newest) return null;
  const compressed = /\.(zst|gz|lz4|bz2)$/.exec(newest.key)?.[1];
  if (!compressed) return { name: newest.name, bytes: newest.bytes };
  if (clusterOf(deps.config, cluster).method !== 'pgbackrest') {
    // The incremental check's index can name an object deleted since: the next newest tells the
    // size as well (the continuity judge reports the deleted one), rather than a HEAD that fails forever.
    for (const seg of segments.slice(-3).reverse()) {
      if (!seg.key) continue;
      let head;
      try {
        head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.config.storage.bucket, Key: seg.key }));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      const bytes = Number(head.Metadata?.bytes);
      return Number.isFinite(bytes) && bytes > 0 ? { name: seg.name, bytes } : null;
    }
    return null;
  }
  if (!opts.decompress || (compressed !== 'zst' && compressed !== 'gz')) return null;
  const stored = await pgbackrestObject(deps, cluster, newest.key);
  return { name: newest.name, bytes: (await decompress(stored, compressed === 'zst' ? 'zstd' : 'gzip')).length };
}
