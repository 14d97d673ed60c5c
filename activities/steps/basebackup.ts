/**
 * pg_basebackup streamed to S3, and verification of what was stored.
 *
 * The tar stream goes straight from pg_basebackup's stdout into an S3 multipart upload, hashed
 * on the way (bounded memory: at most queueSize x partSize buffered). PostgreSQL 15 puts the
 * backup_manifest and, with -X fetch, the needed WAL into that tar. With age recipients
 * configured, every stored object is the compressed stream encrypted on its way out
 * (adapters/age.ts); sha256 and bytes stay those of the compressed plaintext.
 */
import { hashingCounter } from '../../adapters/objectCopy.js';
import { mkdirSync, rmSync, chownSync, createWriteStream, existsSync, lchownSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, DeleteObjectCommand, ListMultipartUploadsCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { uploadStream, type ChunkReader } from '../../adapters/partUpload.js';
import { openPipeReader } from '../../adapters/pipeReader.js';
import { BackupSourceChangedError, DestinationFullError, ToolFailedError, diskFullLine, saysDiskFull } from '../../domain/errors.js';
import { assertBackupId } from '../../domain/naming.js';
import type { PgdrConfig } from '../../config/schema.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { spawnTool, checkResult, runTool, asUser } from '../../adapters/gateway.js';
import { baseFolder } from '../../adapters/catalogStore.js';
import { awaitStorage, objectLockParams } from '../../adapters/storage.js';
import type { SecretReader } from '../../adapters/secrets.js';
import { activityProgress, every } from '../../adapters/progress.js';
import { openLibpqEnv, readNode, withNode } from '../../adapters/sql.js';
import { startToolCheck } from './versions.js';
import { basebackupCompressArgs } from '../../domain/pgVersions.js';
import type { Readable } from 'node:stream';
import type { StoredObject } from '../../domain/catalog.js';
import { TABLESPACES_SQL, tablespaceMapText, tablespaceRoot, type BackupTablespace } from '../../domain/tablespaces.js';
import { uploadArchives } from './basebackupArchives.js';
import { log } from '@temporalio/activity';
import {
  decryptStream,
  encryptStream,
  encryptionMetadata,
  encryptionRecord,
  isAgeEncrypted,
  openIdentities,
  recipientsOf,
} from '../../adapters/age.js';
import type { EncryptionRecord } from '../../domain/catalog.js';
import { EncryptionKeyError } from '../../domain/errors.js';

export interface BaseBackupDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
  s3: S3Client;
}

export interface UploadBaseBackupInput {
  cluster: string;
  node: string;
  backupId: string;
  /**
   * The role the node was chosen for, checked before anything is stored: set when the workflow
   * probed the nodes while it was still taking the cluster lock (a switchover could have ended
   * in between). Absent in runs that probed inside the lock.
   */
  expectRole?: 'primary' | 'standby';
}

export interface UploadBaseBackupResult {
  objectName: string;
  bytes: number;
  sha256: string;
  startLsn: string;
  stopLsn: string;
  timeline: number;
  startTime: string;
  stopTime: string;
  compression: string;
  /** The user tablespaces, each with its own archive (absent: none; the single object path). */
  tablespaces?: BackupTablespace[];
  /** With tablespaces: pg_basebackup's backup_manifest, stored beside the archives. */
  manifestObject?: StoredObject;
  /** With tablespaces: archives that went through scratch space instead of a pipe. */
  spooled?: string[];
  /** The objects are age-encrypted to these recipients (fingerprints); absent: plaintext. */
  encryption?: EncryptionRecord;
}

/**
 * 8 MiB parts: the upload holds up to QUEUE_SIZE of them plus the one being filled and their TLS
 * copies. Measured on the bench database (78 MB stored), one streaming upload's peak RSS rose by
 * 127-138 MB with 16 MiB parts and 73-77 MB with 8 MiB, in the same wall time (3.85-4.38 s).
 */
const PART_SIZE = 8 * 1024 * 1024;
/** Parts uploaded at once (with partSize, the upload's memory bound); the bench's stage table uses the same. */
export const QUEUE_SIZE = 4;
const MAX_PARTS = 9000; // S3 allows 10000; keep a margin

/**
 * Part size for a database of this size: 8 MiB, or larger when the backup could otherwise
 * exceed S3's part limit (sized on the uncompressed database, an upper bound).
 */
export function partSizeFor(databaseBytes: number): number {
  return Math.max(PART_SIZE, Math.ceil(databaseBytes / MAX_PARTS / (1024 * 1024)) * 1024 * 1024);
}

const OBJECT_NAMES: Record<string, string> = { zstd: 'base.tar.zst', lz4: 'base.tar.lz4', gzip: 'base.tar.gz', none: 'base.tar' };

export function objectNameFor(compression: string): string {
  return OBJECT_NAMES[compression] ?? 'base.tar';
}

/** What pg_basebackup -v -P says on stderr: its LSNs, timeline and progress. */
export interface BaseBackupProgress {
  startLsn?: string;
  stopLsn?: string;
  timeline?: number;
  doneKB?: number;
  totalKB?: number;
}

/** Parses pg_basebackup -v -P stderr into LSNs, timeline and progress. */
export function parseBaseBackupStderr(line: string, into: BaseBackupProgress): void {
  let m = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+) on timeline (\d+)/.exec(line);
  if (m) {
    into.startLsn = m[1];
    into.timeline = Number(m[2]);
  }
  m = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/.exec(line);
  if (m) into.stopLsn = m[1];
  m = /^\s*(\d+)\/(\d+) kB \(\d+%\)/.exec(line);
  if (m) {
    into.doneKB = Number(m[1]);
    into.totalKB = Number(m[2]);
  }
}

/** The streaming heartbeat of both upload paths. */
function streamingBeat(info: BaseBackupProgress, bytes: number): Record<string, unknown> {
  return {
    phase: 'streaming',
    bytes,
    readKB: info.doneKB ?? 0,
    totalKB: info.totalKB ?? null,
    percent: info.totalKB ? Math.min(100, Math.round((100 * (info.doneKB ?? 0)) / info.totalKB)) : null,
    startLsn: info.startLsn ?? null,
  };
}

/** The LSNs and timeline pg_basebackup printed, or a failure quoting the end of its stderr. */
function streamedRange(info: BaseBackupProgress, stderr: string): { startLsn: string; stopLsn: string; timeline: number } {
  if (!info.startLsn || !info.stopLsn || !info.timeline)
    throw new ToolFailedError('pg_basebackup', 0, `could not read start/stop lsn from its output: ${stderr.slice(-500)}`);
  return { startLsn: info.startLsn, stopLsn: info.stopLsn, timeline: info.timeline };
}

export async function uploadBaseBackup(deps: BaseBackupDeps, input: UploadBaseBackupInput): Promise<UploadBaseBackupResult> {
  const cc = clusterOf(deps.config, input.cluster);
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const b = cc.backup;
  const { heartbeat, signal } = activityProgress();
  const objectName = objectNameFor(b.compression);
  const key = baseFolder(deps.config.storage, input.cluster, assertBackupId(input.backupId)) + objectName;
  const args = [
    '-h',
    // The agent runs on the node's host: over the server's socket when it is configured, no TLS to pay for.
    nc.socketDir ?? nc.host,
    '-p',
    String(nc.port),
    '-U',
    cc.user,
    '-D',
    '-',
    '-F',
    't',
    '-X',
    'fetch',
    '-c',
    b.checkpoint,
    '-P',
    '-v',
    '--no-password',
    `--label=pgdr ${input.backupId}`,
  ];
  if (b.maxRateKBps) args.push(`--max-rate=${b.maxRateKBps}`);

  // Before pg_basebackup starts, at once (one after another they took 48-66 ms of a warm
  // agent's backup and 145 ms of a cold one; at once 39-46 and 131 ms):
  // - One read of what the backup must know of the server. On a connection of its own, not the
  //   agent's kept session: the size sum stats every file, which on a big cluster can take
  //   longer than a probe's timeout, and must not hold the probes up.
  // - The tools' versions, which must be the server's major: refused before anything is stored.
  // - Storage: an outage (an earlier attempt may have failed on one) is waited for here,
  //   heartbeating, rather than spending the retry attempts on it; and an earlier attempt
  //   killed mid-upload (worker crash) leaves parts of this backup's own key, which are dropped.
  // - Plaintext: the named pipe pg_basebackup writes into (encrypted: age reads a stream, so
  //   the tool's stdout stays one). Closed again when anything else fails.
  const refused = new AbortController();
  const refuse = (err: unknown): never => {
    refused.abort(err);
    throw err;
  };
  const toolCheck = startToolCheck(deps, { cluster: input.cluster, node: input.node, work: 'backup' });
  const server = readNode(
    { config: deps.config, readSecret: deps.readSecret },
    input.cluster,
    input.node,
    `select current_setting('server_version_num') as v, (select sum(pg_database_size(oid)) from pg_database)::text as b, pg_is_in_recovery() as r;
     ${TABLESPACES_SQL}`,
  )
    .then(async ([serverRead, spaces]) => {
      const row = serverRead!.rows[0];
      if (input.expectRole && (row.r ? 'standby' : 'primary') !== input.expectRole)
        throw new BackupSourceChangedError(input.cluster, input.node, input.expectRole);
      const traits = await toolCheck({ label: `the server of node "${input.node}"`, versionNum: Number(row.v) });
      return { traits, databaseBytes: Number(row.b), tablespaces: spaces!.rows as Omit<BackupTablespace, 'object'>[] };
    })
    .catch(refuse);
  const storage = awaitStorage(deps.s3, deps.config.storage, { beat: heartbeat, signal: AbortSignal.any([signal, refused.signal]) }).then(
    () => abortStaleUploads(deps, key),
  );
  const pipeOpening = recipientsOf(deps.config, input.cluster).length
    ? Promise.resolve(undefined)
    : openPipeReader({ signal }).catch(refuse);
  // Once all three have settled: the server's answer decides first (a node no longer in its role
  // must reach the workflow as BackupSourceChangedError, so it probes again), then storage's.
  const [serverSettled, storageSettled, pipeSettled] = await Promise.allSettled([server, storage, pipeOpening] as const);
  const pipe = pipeSettled.status === 'fulfilled' ? pipeSettled.value : undefined;
  const dropPipe = () => pipe?.close().catch(() => undefined);
  for (const settled of [serverSettled, storageSettled, pipeSettled])
    if (settled.status === 'rejected') {
      await dropPipe();
      throw settled.reason;
    }
  const { traits, databaseBytes, tablespaces } = (serverSettled as PromiseFulfilledResult<Awaited<typeof server>>).value;
  args.push(...basebackupCompressArgs(traits, b.compression, b.compressionLevel));
  if (tablespaces.length) {
    // pg_basebackup writes each tablespace's archive to a file of its own: no pipe.
    await dropPipe();
    return uploadWithTablespaces(deps, input, { args, tablespaces, databaseBytes, heartbeat, signal });
  }
  if (pipe && pipe.capacity === undefined)
    warn(
      `backup ${input.backupId}: pg_basebackup's pipe keeps its default size (${pipe.growFailure}): the backup is correct ` +
        'but may run about 10 % slower; perl on the node grows it to 1 MiB (see README, "The pipe")',
    );

  const info: BaseBackupProgress = {};
  const startTime = new Date().toISOString();
  // The client key's private copy (if any) lives until pg_basebackup has exited.
  let libpq: ReturnType<typeof openLibpqEnv> | undefined;
  // Plaintext: read from the named pipe straight into the upload's part buffers (pipeReader.ts).
  let proc: ReturnType<typeof spawnTool>;
  try {
    libpq = openLibpqEnv(deps, { cluster: input.cluster, node: input.node, osUser: nc.osUser, appName: 'pgdr-backup' });
    proc = spawnTool({
      tool: 'pg_basebackup',
      binDir: nc.binDir,
      args,
      osUser: nc.osUser,
      env: libpq.env,
      signal,
      streamStdout: true,
      ...(pipe ? { stdoutFd: pipe.writeFd } : {}),
    });
  } catch (err) {
    await dropPipe();
    libpq?.close();
    throw err;
  } finally {
    // The tool has its copy of the write end: ours goes, so the pipe ends when the tool exits.
    pipe?.closeWriter();
  }
  let pending = '';
  proc.stderr!.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop() ?? '';
    for (const l of lines) parseBaseBackupStderr(l, info);
  });
  // Compressed by pg_basebackup, hashed, then encrypted when the cluster has recipients. Storing
  // failed: nothing reads pg_basebackup's output any more, so stop it rather than wait.
  const store = storeStream(deps, input.cluster, {
    key,
    body: pipe ?? proc.stdout!,
    contentType: 'application/x-tar',
    partSize: partSizeFor(databaseBytes),
    signal,
  });
  store.done.catch(() => proc.kill());
  const stopBeat = every(2000, () => heartbeat(streamingBeat(info, store.bytes())));
  try {
    const [stored, result] = await allOrFirstFailure([store.done, proc] as const);
    if (pending) parseBaseBackupStderr(pending, info);
    checkResult('pg_basebackup', result as never);
    return {
      objectName,
      bytes: stored.bytes,
      sha256: stored.sha256,
      ...streamedRange(info, String(result.stderr)),
      startTime,
      stopTime: new Date().toISOString(),
      compression: b.compression,
      ...(store.encrypted ? { encryption: encryptionRecord(deps.config, input.cluster)! } : {}),
    };
  } catch (err) {
    // A half-written object is this backup's own (keyed by its id), has no manifest and so
    // never counts; remove it anyway so nothing partial lingers.
    await discardObject(deps, key).catch(() => undefined);
    throw err;
  } finally {
    await dropPipe();
    libpq.close();
    stopBeat();
  }
}

/**
 * Waits for all; fails with the failure that came first. The later ones are usually its echo
 * (storage refused a part, so the stream was closed and pg_basebackup saw a broken pipe).
 */
async function allOrFirstFailure<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  let first: { err: unknown } | undefined;
  const settled = await Promise.allSettled(
    promises.map((p) =>
      p.catch((err: unknown) => {
        first ??= { err };
        throw err;
      }),
    ),
  );
  if (first) throw first.err;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * Stores one archive stream as `key`: hashed as it is read (the plaintext: what pg_verifybackup
 * and a restore check), age-encrypted when the cluster has recipients, uploaded in kept parts.
 */
function storeStream(
  deps: BaseBackupDeps,
  cluster: string,
  o: { key: string; body: Readable | ChunkReader; contentType: string; partSize: number; signal: AbortSignal },
): { done: Promise<{ bytes: number; sha256: string }>; bytes(): number; encrypted: boolean } {
  const recipients = recipientsOf(deps.config, cluster);
  const body = o.body;
  if (recipients.length && 'readInto' in body) throw new Error('storeStream: an encrypted backup reads a stream, not a ChunkReader');
  // Encrypted: hashed before age, by a pass-through; plaintext: hashed by the upload as it reads.
  const counter = recipients.length ? hashingCounter() : undefined;
  const enc = counter ? encryptStream((body as Readable).pipe(counter), recipients, o.signal) : undefined;
  let read = 0;
  const uploaded = uploadStream(enc ? enc.output : body, {
    s3: deps.s3,
    params: {
      Bucket: deps.config.storage.bucket,
      Key: o.key,
      ContentType: enc ? 'application/octet-stream' : o.contentType,
      Metadata: encryptionMetadata(deps.config, cluster),
      ...objectLockParams(deps.config.storage),
    },
    partSize: o.partSize,
    queueSize: QUEUE_SIZE,
    hash: !counter,
    signal: o.signal,
    onBytes: (n) => void (read = n),
  });
  const done = allOrFirstFailure([uploaded, enc?.done ?? Promise.resolve()] as const).then(([u]) =>
    counter ? { bytes: counter.bytes, sha256: counter.digest() } : { bytes: u.bytes, sha256: u.sha256! },
  );
  return { done, bytes: () => counter?.bytes ?? read, encrypted: !!enc };
}

/** pg_basebackup -Ft -D <scratch>: one object per tablespace archive, plus backup_manifest (basebackupArchives.ts). */
async function uploadWithTablespaces(
  deps: BaseBackupDeps,
  input: UploadBaseBackupInput,
  o: {
    args: string[];
    tablespaces: Omit<BackupTablespace, 'object'>[];
    databaseBytes: number;
    heartbeat: (d: Record<string, unknown>) => void;
    signal: AbortSignal;
  },
): Promise<UploadBaseBackupResult> {
  const cc = clusterOf(deps.config, input.cluster);
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const b = cc.backup;
  const folder = baseFolder(deps.config.storage, input.cluster, assertBackupId(input.backupId));
  // Without -D -: the archives go to a directory; --no-sync, as nothing there is kept.
  const args = o.args.filter((a, k) => !(a === '-D' && o.args[k + 1] === '-') && !(a === '-' && o.args[k - 1] === '-D'));
  args.push('--no-sync');
  mkdirSync(b.scratchDir, { recursive: true, mode: 0o700 });
  ownedBy(b.scratchDir, nc.osUser);
  const stores: ReturnType<typeof storeStream>[] = [];
  const upload = async (name: string, body: Readable): Promise<StoredObject> => {
    const key = folder + name;
    await abortStaleUploads(deps, key);
    const store = storeStream(deps, input.cluster, {
      key,
      body,
      contentType: 'application/octet-stream',
      partSize: partSizeFor(o.databaseBytes),
      signal: o.signal,
    });
    stores.push(store);
    return { name, ...(await store.done) };
  };
  const info: BaseBackupProgress = {};
  const startTime = new Date().toISOString();
  const libpq = openLibpqEnv(deps, { cluster: input.cluster, node: input.node, osUser: nc.osUser, appName: 'pgdr-backup' });
  const stopBeat = every(2000, () =>
    o.heartbeat(
      streamingBeat(
        info,
        stores.reduce((n, st) => n + st.bytes(), 0),
      ),
    ),
  );
  try {
    const r = await uploadArchives({
      args,
      binDir: nc.binDir,
      osUser: nc.osUser,
      env: libpq.env,
      signal: o.signal,
      scratch: join(b.scratchDir, `backup-${input.cluster}-${input.backupId}`),
      baseObjectName: objectNameFor(b.compression),
      tablespaces: o.tablespaces,
      lookup: (oid) =>
        withNode(deps, input.cluster, input.node, async (c) => {
          const rows = (await c.query(`select * from (${TABLESPACES_SQL}) t where oid = $1`, [oid])).rows;
          return (rows[0] as Omit<BackupTablespace, 'object'> | undefined) ?? null;
        }),
      upload,
      remove: (name) => discardObject(deps, folder + name),
      onStderrLine: (l) => parseBaseBackupStderr(l, info),
    });
    return {
      objectName: r.base.name,
      bytes: r.base.bytes,
      sha256: r.base.sha256,
      ...streamedRange(info, r.stderr),
      startTime,
      stopTime: new Date().toISOString(),
      compression: b.compression,
      tablespaces: r.tablespaces,
      manifestObject: r.manifest,
      spooled: r.spooled,
      ...(recipientsOf(deps.config, input.cluster).length ? { encryption: encryptionRecord(deps.config, input.cluster)! } : {}),
    };
  } finally {
    libpq.close();
    stopBeat();
  }
}

/**
 * Removes an object this backup stored and does not keep. Under storage.objectLock it stays: it is
 * locked, and a plain delete would only hide it behind a delete marker (its folder with it, out of
 * the catalog's sight while S3 keeps it). Left visible it belongs to an incomplete backup (or is
 * an unlisted empty archive of a good one), which retention removes, every version, once unlocked.
 */
async function discardObject(deps: BaseBackupDeps, key: string): Promise<void> {
  if (deps.config.storage.objectLock) return;
  await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.config.storage.bucket, Key: key }));
}

async function abortStaleUploads(deps: BaseBackupDeps, key: string): Promise<void> {
  const bucket = deps.config.storage.bucket;
  const res = await deps.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
  for (const u of res.Uploads ?? []) {
    if (u.Key === key && u.UploadId)
      await deps.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: u.UploadId }));
  }
}

export interface VerifyBaseBackupInput {
  cluster: string;
  node: string;
  backupId: string;
  objectName: string;
  sha256: string;
  compression: string;
  /** A backup with tablespaces: their archives and backup_manifest (absent: the single object). */
  tablespaces?: BackupTablespace[];
  manifestObject?: StoredObject;
}

export interface VerifyResult {
  tool: string;
  ok: boolean;
  seconds: number;
  detail: string;
}

const TAR_DECOMPRESS: Record<string, string[]> = { zstd: ['--zstd'], gzip: ['-z'], lz4: ['-I', 'lz4'], none: [] };

export interface Extracted {
  bytes: number;
  sha256: string;
  /** Until the last byte arrived from S3. */
  downloadSeconds: number;
  /** What tar needed after that (the two overlap: the object is extracted as it streams). */
  extractSeconds: number;
}

/**
 * Streams a stored backup object from S3 into tar, extracting into dir as the node's OS user,
 * hashing on the way (bounded memory). Heartbeats bytes and percent. The caller compares the
 * sha256 with the manifest's before trusting what was extracted.
 */
export async function downloadAndExtract(
  deps: BaseBackupDeps,
  o: {
    cluster: string;
    key: string;
    dir: string;
    compression: string;
    osUser: string;
    signal: AbortSignal;
    heartbeat: (d: Record<string, unknown>) => void;
  },
): Promise<Extracted> {
  const t0 = Date.now();
  const obj = await deps.s3.send(new GetObjectCommand({ Bucket: deps.config.storage.bucket, Key: o.key }), { abortSignal: o.signal });
  const total = obj.ContentLength ?? null;
  const counter = hashingCounter();
  let source: ReturnType<typeof plainBody>;
  try {
    source = plainBody(deps, o.cluster, o.key, obj, o.signal);
  } catch (err) {
    (obj.Body as { destroy?: () => void } | undefined)?.destroy?.();
    throw err;
  }
  const tar = spawnTool({
    tool: 'tar',
    args: ['-x', ...(TAR_DECOMPRESS[o.compression] ?? []), '-C', o.dir, '-f', '-'],
    osUser: o.osUser,
    signal: o.signal,
  });
  const stopBeat = every(2000, () =>
    o.heartbeat({
      phase: 'downloading',
      bytes: counter.bytes,
      totalBytes: total,
      percent: total ? Math.round((100 * counter.bytes) / total) : null,
    }),
  );
  let downloaded = 0;
  counter.on('end', () => void (downloaded = Date.now()));
  try {
    const [piped, decrypted] = await Promise.allSettled([
      new Promise<void>((resolve, reject) => pipeline(source.body, counter, tar.stdin!, (err) => (err ? reject(err) : resolve()))),
      source.done,
    ]);
    // What broke the decryption comes first (a key problem, the download cut, age refusing the
    // bytes): tar's complaint about the short stream would only hide it. Only an age killed by
    // SIGPIPE is tar's doing (tar stopped reading), and then tar's own failure says why.
    if (decrypted.status === 'rejected') {
      const r = decrypted.reason as { context?: { signal?: string } };
      if (!(r instanceof ToolFailedError) || r.context?.signal !== 'SIGPIPE') {
        tar.kill();
        await tar;
        throw decrypted.reason;
      }
    }
    checkResult('tar', (await tar) as never);
    if (decrypted.status === 'rejected') throw decrypted.reason;
    if (piped.status === 'rejected') throw piped.reason;
  } finally {
    stopBeat();
  }
  const end = Date.now();
  downloaded ||= end;
  return {
    bytes: counter.bytes,
    sha256: counter.digest(),
    downloadSeconds: (downloaded - t0) / 1000,
    extractSeconds: (end - downloaded) / 1000,
  };
}

/**
 * A stored object's body as compressed plaintext: through `age --decrypt` when its metadata says
 * it is age-encrypted, else as stored. `done` settles when decryption has finished.
 */
export function plainBody(
  deps: BaseBackupDeps,
  cluster: string,
  key: string,
  obj: { Body?: unknown; Metadata?: Record<string, string> },
  signal: AbortSignal,
): { body: NodeJS.ReadableStream; done: Promise<void> } {
  const body = obj.Body as NodeJS.ReadableStream;
  if (!isAgeEncrypted(obj.Metadata)) return { body, done: Promise.resolve() };
  const dec = decryptStream(deps.config, deps.readSecret, cluster, `s3://${deps.config.storage.bucket}/${key}`, body, signal);
  return { body: dec.output, done: dec.done };
}

/** A tablespace archive to put in place: its object and the directory it goes to. */
export interface TablespacePlacement {
  oid: number;
  objectName: string;
  sha256: string;
  dir: string;
}

/**
 * The rest of a backup taken with tablespaces, after base.tar went into dataDir: each tablespace
 * archive extracted into its directory (checked against its sha256), pg_tblspc/<oid> linked to
 * it, tablespace_map naming those directories (so the server never recreates the original
 * paths), and backup_manifest beside them. Returns a problem in words, or the bytes fetched.
 */
export async function placeTablespaces(
  deps: BaseBackupDeps,
  o: {
    cluster: string;
    folder: string;
    dataDir: string;
    compression: string;
    osUser: string;
    signal: AbortSignal;
    heartbeat: (d: Record<string, unknown>) => void;
    tablespaces: TablespacePlacement[];
    manifestObject?: { name: string; sha256: string };
  },
): Promise<{ bytes: number; problem: string | null }> {
  let bytes = 0;
  const where = (name: string) => `s3://${deps.config.storage.bucket}/${o.folder}${name}`;
  for (const t of o.tablespaces) {
    // Every directory made here is the node's OS user's (tar runs as that user).
    let top: string | null = null;
    for (let at = t.dir; !existsSync(at); at = dirname(at)) top = at;
    mkdirSync(t.dir, { recursive: true, mode: 0o700 });
    for (let at = t.dir; top && at.length >= top.length; at = dirname(at)) ownedBy(at, o.osUser);
    ownedBy(t.dir, o.osUser);
    for (const e of readdirSync(t.dir)) rmSync(join(t.dir, e), { recursive: true, force: true });
    const got = await downloadAndExtract(deps, { ...o, key: o.folder + t.objectName, dir: t.dir });
    bytes += got.bytes;
    if (got.sha256 !== t.sha256)
      return { bytes, problem: `checksum mismatch for ${where(t.objectName)}: expected sha256 ${t.sha256}, got ${got.sha256}` };
    const link = join(o.dataDir, 'pg_tblspc', String(t.oid));
    rmSync(link, { force: true });
    symlinkSync(t.dir, link);
    const ids = asUser(o.osUser);
    if (ids) lchownSync(link, ids.uid, ids.gid);
  }
  const map = join(o.dataDir, 'tablespace_map');
  if (existsSync(map)) {
    writeFileSync(map, tablespaceMapText(o.tablespaces.map((t) => ({ oid: t.oid, to: t.dir }))), { mode: 0o600 });
    ownedBy(map, o.osUser);
  }
  if (o.manifestObject) {
    const m = o.manifestObject;
    const obj = await deps.s3.send(new GetObjectCommand({ Bucket: deps.config.storage.bucket, Key: o.folder + m.name }), {
      abortSignal: o.signal,
    });
    const counter = hashingCounter();
    const path = join(o.dataDir, 'backup_manifest');
    const source = plainBody(deps, o.cluster, o.folder + m.name, obj, o.signal);
    await Promise.all([
      new Promise<void>((resolve, reject) =>
        pipeline(source.body, counter, createWriteStream(path, { mode: 0o600 }), (err) => (err ? reject(err) : resolve())),
      ),
      source.done,
    ]);
    ownedBy(path, o.osUser);
    bytes += counter.bytes;
    if (counter.digest() !== m.sha256) return { bytes, problem: `checksum mismatch for ${where(m.name)}: expected sha256 ${m.sha256}` };
  }
  return { bytes, problem: null };
}

/** pg_verifybackup's arguments: tablespace_map is rewritten to the restore's own paths, so not compared. */
export function verifyArgs(dataDir: string): string[] {
  const linked = existsSync(join(dataDir, 'pg_tblspc')) && readdirSync(join(dataDir, 'pg_tblspc')).length > 0;
  return linked && existsSync(join(dataDir, 'tablespace_map')) ? ['-i', 'tablespace_map', dataDir] : [dataDir];
}

/** The activity's log, when there is an activity (tests and scripts call steps directly). */
function warn(message: string): void {
  try {
    log.warn(message);
  } catch {
    process.stderr.write(`${message}\n`);
  }
}

function ownedBy(path: string, user: string): void {
  const ids = asUser(user);
  if (ids) chownSync(path, ids.uid, ids.gid);
}

/**
 * Downloads the stored object, checks its sha256, extracts it into scratch space on the node
 * and runs pg_verifybackup (which also parses the included WAL). Scratch is always removed.
 */
export async function verifyBaseBackup(deps: BaseBackupDeps, input: VerifyBaseBackupInput): Promise<VerifyResult | null> {
  const cc = clusterOf(deps.config, input.cluster);
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const { heartbeat, signal } = activityProgress();
  const started = Date.now();
  if (!Object.values(OBJECT_NAMES).includes(input.objectName))
    throw new RangeError(`invalid object name "${input.objectName}": expected base.tar[.zst|.lz4|.gz]`);
  const key = baseFolder(deps.config.storage, input.cluster, assertBackupId(input.backupId)) + input.objectName;
  // An encrypting host need not hold the identity (a backup host that cannot read backups): the
  // backup is then stored unverified (null, as with verify off) and proven by a restore drill.
  if (recipientsOf(deps.config, input.cluster).length) {
    try {
      openIdentities(deps.config, deps.readSecret, input.cluster, `s3://${deps.config.storage.bucket}/${key}`).close();
    } catch (err) {
      if (!(err instanceof EncryptionKeyError)) throw err;
      warn(`backup ${input.backupId} is stored unverified: ${err.message.split('\n')[0]}`);
      return null;
    }
  }
  mkdirSync(cc.backup.scratchDir, { recursive: true, mode: 0o700 });
  ownedBy(cc.backup.scratchDir, nc.osUser);
  const dir = join(cc.backup.scratchDir, `verify-${input.cluster}-${input.backupId}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  ownedBy(dir, nc.osUser);
  const done = (ok: boolean, detail: string): VerifyResult => ({
    tool: 'pg_verifybackup',
    ok,
    seconds: (Date.now() - started) / 1000,
    detail,
  });
  try {
    const got = await downloadAndExtract(deps, {
      cluster: input.cluster,
      key,
      dir,
      compression: input.compression,
      osUser: nc.osUser,
      signal,
      heartbeat,
    });
    const actual = got.sha256;
    if (actual !== input.sha256)
      return done(false, `checksum mismatch for s3://${deps.config.storage.bucket}/${key}: expected sha256 ${input.sha256}, got ${actual}`);
    if (input.tablespaces?.length || input.manifestObject) {
      const placed = await placeTablespaces(deps, {
        cluster: input.cluster,
        folder: baseFolder(deps.config.storage, input.cluster, input.backupId),
        dataDir: dir,
        compression: input.compression,
        osUser: nc.osUser,
        signal,
        heartbeat,
        tablespaces: (input.tablespaces ?? []).map((t) => ({
          oid: t.oid,
          objectName: t.object!.name,
          sha256: t.object!.sha256,
          dir: `${tablespaceRoot(dir)}/${t.oid}`,
        })),
        ...(input.manifestObject ? { manifestObject: input.manifestObject } : {}),
      });
      if (placed.problem) return done(false, placed.problem);
    }
    heartbeat({ phase: 'pg_verifybackup' });
    try {
      const res = await runTool({ tool: 'pg_verifybackup', binDir: nc.binDir, args: verifyArgs(dir), osUser: nc.osUser, signal });
      return done(true, res.stdout.trim() || 'backup successfully verified');
    } catch (err) {
      if (err instanceof ToolFailedError)
        return done(false, `pg_verifybackup rejected s3://${deps.config.storage.bucket}/${key}: ${String(err.context.stderrTail).trim()}`);
      throw err;
    }
  } catch (err) {
    // Scratch space full is the node's problem, not the backup's: never mark a good backup failed for it.
    if (err instanceof ToolFailedError && saysDiskFull(err.context.stderrTail))
      throw new DestinationFullError(input.cluster, input.node, dir, diskFullLine(err.context.stderrTail));
    if (err instanceof ToolFailedError && err.context.tool === 'tar')
      return done(false, `cannot extract s3://${deps.config.storage.bucket}/${key}: ${String(err.context.stderrTail).trim()}`);
    // Stored, but not decryptable with the identities configured: that backup could not be restored.
    if (err instanceof EncryptionKeyError) return done(false, err.message.split('\n')[0]!);
    if (err instanceof ToolFailedError && err.context.tool === 'age')
      return done(false, `cannot decrypt s3://${deps.config.storage.bucket}/${key}: ${String(err.context.stderrTail).trim()}`);
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(tablespaceRoot(dir), { recursive: true, force: true });
  }
}
