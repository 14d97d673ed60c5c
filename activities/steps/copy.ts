/**
 * The offsite copy (storage.secondary), run on the control worker: which good backups and WAL
 * the secondary lacks, copying them object by object (checked on the far side, the manifest
 * last), and re-reading the whole copy on demand. Nothing on the primary is changed, and
 * nothing on the secondary is ever replaced or deleted.
 */
import { baseFolder, catalogIds, listCatalog, manifestKey, readManifest, walFolder } from '../../adapters/catalogStore.js';
import { copyBuffered, copyStreamed, hashObject, headMetadata, objectUrl, STORED_SHA256, type Side } from '../../adapters/objectCopy.js';
import { activityProgress, every } from '../../adapters/progress.js';
import { checkBucket, getJson, listKeys, objectLockParams, putJsonIfAbsent, storageEndpoint } from '../../adapters/storage.js';
import { putReport } from '../../adapters/reportStore.js';
import { CopyCorruptError, RepositoryNotConfiguredError } from '../../domain/errors.js';
import { copyPlan, pgbackrestCopyPlan, walToCopy, type CopyPlan, type CopyRecord, type CopyReport } from '../../domain/copy.js';
import { listArchivedWal } from '../../adapters/walStore.js';
import { clusterOf } from '../../config/lookup.js';
import type { StepDeps } from '../bind.js';

/** The copy record's name in a backup's folder on the secondary (written just before its manifest). */
export const COPY_RECORD = 'copy.json';

/** WAL objects copied at once. */
const WAL_PARALLEL = 4;

function sides(deps: StepDeps): { near: Side; far: Side } {
  if (!deps.secondary) throw new RepositoryNotConfiguredError('secondary');
  const s = deps.secondary();
  return { near: { s3: deps.s3, storage: deps.config.storage }, far: { s3: s.s3, storage: s.config.storage } };
}

const manifestIds = (side: Side, cluster: string) => catalogIds(side.s3, side.storage, cluster);

export async function planCopy(
  deps: StepDeps,
  input: { cluster: string },
): Promise<CopyPlan & PgbackrestPlan & { secondary: CopyReport['secondary'] }> {
  const { far } = sides(deps);
  const catalog = await listCatalog(deps.s3, deps.config.storage, input.cluster);
  const method = clusterOf(deps.config, input.cluster).method;
  // Each method copies what it wrote: a set of the other method (from before a method change) stays where it is.
  const good = catalog.flatMap((e) => (e.status === 'good' && e.manifest?.method === method ? [e.manifest] : []));
  const onFar = await manifestIds(far, input.cluster);
  const plan = method === 'pgbackrest' ? pgbackrestCopyPlan(good, onFar) : { ...copyPlan(good, onFar), take: null, uncopiable: [] };
  return { ...plan, secondary: { endpoint: storageEndpoint(far.storage), bucket: far.storage.bucket, prefix: far.storage.prefix } };
}

/** pgbackrest method: the backup to take into the secondary, and the older ones it cannot have. */
type PgbackrestPlan = Pick<ReturnType<typeof pgbackrestCopyPlan>, 'take' | 'uncopiable'>;

/** The newest WAL segment in the repository the deps are (a copy asks the secondary's: pgBackRest pushed it there). */
export async function newestArchivedSegment(deps: StepDeps, input: { cluster: string }): Promise<string | null> {
  const names = (await listArchivedWal(deps, input.cluster)).map((w) => w.name).filter((n) => /^[0-9A-F]{24}$/.test(n));
  return names.at(-1) ?? null;
}

/**
 * Copies one backup's objects (those its manifest lists), then its copy record and manifest
 * (last, and only while the primary still has it). A backup gone from the primary meanwhile
 * (expiry takes no lock against a copy) is skipped, saying so, and gets no manifest on the
 * secondary; a far object with other bytes fails the copy, and so does a plaintext object whose
 * bytes are not the ones its manifest records (damage on the primary is not copied as good).
 */
export async function copyBackupObjects(
  deps: StepDeps,
  input: { cluster: string; backupId: string; workflowId: string },
): Promise<{ copied: boolean; reason?: string; objects: number; bytes: number }> {
  const { near, far } = sides(deps);
  const { heartbeat, signal } = activityProgress();
  const manifest = await readManifest(near.s3, near.storage, input.cluster, input.backupId);
  if (!manifest) return { copied: false, reason: 'its manifest is gone from the primary (expired meanwhile)', objects: 0, bytes: 0 };
  const nearFolder = baseFolder(near.storage, input.cluster, input.backupId);
  const farFolder = baseFolder(far.storage, input.cluster, input.backupId);
  // The manifest's objects, not a listing: a listing during an expiry could miss some and still look complete.
  const listed = new Map(manifest.objects.map((o) => [o.name, o.sha256]));
  const names = [...listed.keys()];
  const plaintext = manifest.encryption === undefined;
  const record: CopyRecord = { backupId: input.backupId, copiedAt: '', workflowId: input.workflowId, objects: [] };
  let bytes = 0;
  const beat = every(2000, () =>
    heartbeat({ phase: 'copying base objects', backupId: input.backupId, objects: record.objects.length, bytes }),
  );
  try {
    for (const name of names) {
      const out = await copyStreamed(near, far, nearFolder + name, farFolder + name, signal);
      if (out.state === 'gone')
        return { copied: false, reason: `${objectUrl(near, nearFolder + name)} is gone from the primary`, objects: 0, bytes };
      if (out.state === 'conflict') throw new CopyCorruptError(input.cluster, [out.problem]);
      // Stored bytes are the manifest's (compressed plaintext) unless age-encrypted: then checked on restore.
      if (plaintext && out.storedSha256 !== listed.get(name))
        throw new CopyCorruptError(input.cluster, [
          `${objectUrl(near, nearFolder + name)} has sha256 ${out.storedSha256}, but manifest ${input.backupId} records ${listed.get(name)}: the primary's copy is damaged`,
        ]);
      record.objects.push({ name, bytes: out.bytes, storedSha256: out.storedSha256 });
      bytes += out.state === 'copied' ? out.bytes : 0;
    }
  } finally {
    beat();
  }
  record.copiedAt = new Date().toISOString();
  // Expired while it was copied: what was copied stays without a manifest (never counted as a copy).
  if (!(await readManifest(near.s3, near.storage, input.cluster, input.backupId)))
    return { copied: false, reason: 'its manifest went from the primary while it was copied (expired meanwhile)', objects: 0, bytes };
  const lock = objectLockParams(far.storage);
  if (!(await putJsonIfAbsent(far.s3, far.storage.bucket, farFolder + COPY_RECORD, record, lock))) {
    const earlier = await getJson<CopyRecord>(far.s3, far.storage.bucket, farFolder + COPY_RECORD);
    if (!sameObjects(earlier, record))
      throw new CopyCorruptError(input.cluster, [`${objectUrl(far, farFolder + COPY_RECORD)} lists other objects than this copy`]);
  }
  await putJsonIfAbsent(far.s3, far.storage.bucket, manifestKey(far.storage, input.cluster, input.backupId), manifest, lock);
  return { copied: true, objects: record.objects.length, bytes };
}

function sameObjects(a: CopyRecord | undefined, b: CopyRecord): boolean {
  const norm = (r: CopyRecord) => JSON.stringify([...r.objects].sort((x, y) => x.name.localeCompare(y.name)));
  return a !== undefined && norm(a) === norm(b);
}

/** Copies every WAL and .history object from walFrom on that the secondary lacks, WAL_PARALLEL at a time. */
export async function copyWalRange(
  deps: StepDeps,
  input: { cluster: string; walFrom: string },
): Promise<{ copied: number; bytes: number; newestOnSecondary: string | null }> {
  const { near, far } = sides(deps);
  const { heartbeat, signal } = activityProgress();
  const nearFolder = walFolder(near.storage, input.cluster);
  const farFolder = walFolder(far.storage, input.cluster);
  const [nearKeys, farKeys] = await Promise.all([
    listKeys(near.s3, near.storage.bucket, nearFolder),
    listKeys(far.s3, far.storage.bucket, farFolder),
  ]);
  const there = new Set(farKeys.map((k) => k.key.slice(farFolder.length)));
  const todo = nearKeys.map((k) => k.key.slice(nearFolder.length)).filter((n) => walToCopy(n, input.walFrom) && !there.has(n));
  let copied = 0;
  let bytes = 0;
  const problems: string[] = [];
  const beat = every(2000, () => heartbeat({ phase: 'copying WAL', done: copied, total: todo.length, bytes }));
  try {
    let next = 0;
    const lane = async () => {
      while (next < todo.length && problems.length === 0) {
        const name = todo[next++]!;
        const out = await copyBuffered(near, far, nearFolder + name, farFolder + name, signal);
        if (out.state === 'conflict') problems.push(out.problem);
        else if (out.state !== 'gone') {
          copied += out.state === 'copied' ? 1 : 0;
          bytes += out.state === 'copied' ? out.bytes : 0;
          there.add(name);
        }
      }
    };
    await Promise.all(Array.from({ length: WAL_PARALLEL }, lane));
  } finally {
    beat();
  }
  if (problems.length) throw new CopyCorruptError(input.cluster, problems);
  const segments = [...there].filter((n) => /^[0-9A-F]{24}(\.(zst|gz))?$/.test(n)).sort();
  return { copied, bytes, newestOnSecondary: segments.at(-1)?.slice(0, 24) ?? null };
}

/**
 * Re-reads the whole copy on the secondary: each backup's objects against its copy record, each
 * WAL object against the sha256 in its metadata. Every damaged or missing object is named.
 */
export async function verifySecondary(deps: StepDeps, input: { cluster: string }): Promise<{ objects: number; bytes: number }> {
  const { far } = sides(deps);
  const { heartbeat, signal } = activityProgress();
  const problems: string[] = [];
  let objects = 0;
  let bytes = 0;
  const check = async (key: string, expected: string | undefined, what: string) => {
    const got = await hashObject(far, key, signal);
    objects++;
    if (!got) problems.push(`${objectUrl(far, key)} is missing (${what})`);
    else {
      bytes += got.bytes;
      if (expected === undefined) problems.push(`${objectUrl(far, key)} has no recorded sha256 (${what}): not written by a pgdr copy`);
      else if (got.sha256 !== expected) problems.push(`${objectUrl(far, key)} has sha256 ${got.sha256}, expected ${expected} (${what})`);
    }
  };
  const beat = every(2000, () => heartbeat({ phase: 'verifying the secondary', objects, bytes, problems: problems.length }));
  try {
    for (const id of [...(await manifestIds(far, input.cluster))].sort()) {
      const folder = baseFolder(far.storage, input.cluster, id);
      const record = await getJson<CopyRecord>(far.s3, far.storage.bucket, folder + COPY_RECORD);
      if (!record) {
        problems.push(`${objectUrl(far, folder + COPY_RECORD)} is missing: backup ${id} has a manifest but no copy record`);
        continue;
      }
      for (const o of record.objects) await check(folder + o.name, o.storedSha256, `backup ${id}, copied ${record.copiedAt}`);
    }
    const walPrefix = walFolder(far.storage, input.cluster);
    for (const { key } of await listKeys(far.s3, far.storage.bucket, walPrefix)) {
      const meta = await headMetadata(far, key);
      await check(key, meta?.[STORED_SHA256], 'WAL');
    }
  } finally {
    beat();
  }
  if (problems.length) throw new CopyCorruptError(input.cluster, problems);
  return { objects, bytes };
}

export async function storeCopyReport(deps: StepDeps, report: CopyReport): Promise<void> {
  await putReport(deps, 'copies', report.cluster, report.id, report);
}

/** How long `auto` waits for the primary bucket to answer before it reads the secondary. */
const REACH_TIMEOUT_MS = 10_000;

/**
 * Null when the bucket answers HEAD; else why not. Any failure counts: down, timed out, and
 * also refused (403: keys revoked) or gone (NoSuchBucket), the disasters a second repository is for.
 */
async function reachable(side: Side): Promise<string | null> {
  try {
    await checkBucket(side.s3, side.storage.bucket, AbortSignal.timeout(REACH_TIMEOUT_MS));
    return null;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    return `${e.message || e.name}${status ? ` (HTTP ${status})` : ''}`;
  }
}

/** Null when the secondary's bucket answers a HEAD (within 10 s); else its endpoint and why not. */
export async function secondaryUnreachable(deps: StepDeps, _input: { cluster: string }): Promise<string | null> {
  const { far } = sides(deps);
  const down = await reachable(far);
  return down === null ? null : `${storageEndpoint(far.storage)}: ${down}`;
}

/**
 * The repository a restore, drill or rebuild reads: the one asked for, or for `auto` the primary
 * when its bucket answers, else the secondary (when configured and answering). The note says why.
 */
export async function chooseRepository(
  deps: StepDeps,
  input: { choice: 'primary' | 'secondary' | 'auto' },
): Promise<{ repository: 'primary' | 'secondary'; note: string | null }> {
  if (input.choice !== 'auto') return { repository: input.choice, note: null };
  const near: Side = { s3: deps.s3, storage: deps.config.storage };
  const down = await reachable(near);
  if (down === null) return { repository: 'primary', note: null };
  if (!deps.secondary)
    return {
      repository: 'primary',
      note: `the primary storage (${storageEndpoint(near.storage)}) is unavailable and no secondary is configured: ${down}`,
    };
  const far = deps.secondary();
  const farDown = await reachable({ s3: far.s3, storage: far.config.storage });
  if (farDown !== null)
    return {
      repository: 'primary',
      note: `both repositories are unavailable: primary ${storageEndpoint(near.storage)} (${down}), secondary ${storageEndpoint(far.config.storage)} (${farDown})`,
    };
  return {
    repository: 'secondary',
    note: `read from the secondary (${storageEndpoint(far.config.storage)}, bucket ${far.config.storage.bucket}): the primary storage ${storageEndpoint(near.storage)} is unavailable: ${down}`,
  };
}
