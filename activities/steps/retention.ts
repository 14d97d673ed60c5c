/**
 * Retention in S3: plan from the catalog, then delete manifest-first, then WAL before the cutoff.
 *
 * On a bucket with Object Lock (storage.objectLock set, or the bucket has it enabled) every
 * bucket is versioned: a plain delete there only adds a delete marker, which hides a version S3
 * still keeps (and, while it is locked, must keep). So there retention works on versions: it
 * reads each object's retain-until, holds back whatever is still locked (with the date, in the
 * plan), and deletes exact versions, delete markers included, once the lock has ended.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { log } from '@temporalio/activity';
import { planRetention, walBeforeCutoff, type RetentionPolicy } from '../../domain/retention.js';
import { holdLockedBackups, type BackupLocks, type LockedPlan } from '../../domain/objectLock.js';
import type { PgdrConfig } from '../../config/schema.js';
import { assertBackupId } from '../../domain/naming.js';
import type { CatalogEntry } from '../../domain/catalog.js';
import { baseFolder, listCatalog, manifestKey, walFolder } from '../../adapters/catalogStore.js';
import {
  clusterPrefix,
  deleteKeys,
  deleteVersions,
  listKeys,
  listVersions,
  objectLockState,
  versionLock,
  type ObjectVersion,
} from '../../adapters/storage.js';

export interface RetentionDeps {
  config: PgdrConfig;
  s3: S3Client;
  now?: () => Date;
}

async function walBefore(deps: RetentionDeps, cluster: string, cutoff: string | null) {
  if (!cutoff) return [];
  const folder = walFolder(deps.config.storage, cluster);
  return (await listKeys(deps.s3, deps.config.storage.bucket, folder)).filter((o) => walBeforeCutoff(o.key.slice(folder.length), cutoff));
}

/** True when objects may be locked: pgdr locks them, or the bucket has Object Lock (a default retention may). */
async function lockAware(deps: RetentionDeps): Promise<boolean> {
  if (deps.config.storage.objectLock !== undefined) return true;
  try {
    return (await objectLockState(deps.s3, deps.config.storage.bucket)).enabled;
  } catch (err) {
    // Keys without s3:GetBucketObjectLockConfiguration (pgdr without objectLock never needed it):
    // retention works as before rather than stop. On a locked bucket a plain delete only hides a
    // version behind a marker; nothing is lost.
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 403) throw err;
    log.warn("retention: the bucket's object lock configuration is not readable (403); deleting as on an unlocked bucket", {
      bucket: deps.config.storage.bucket,
    });
    return false;
  }
}

type LockedVersion = ObjectVersion & { retainUntil: Date | null; mode: 'governance' | 'compliance' | null };

/** Every version under a prefix with its lock (a few HEADs at a time). */
async function versionsWithLocks(deps: RetentionDeps, prefix: string, keep: (v: ObjectVersion) => boolean = () => true) {
  const versions = (await listVersions(deps.s3, deps.config.storage.bucket, prefix)).filter(keep);
  const out: LockedVersion[] = [];
  for (let i = 0; i < versions.length; i += 16)
    out.push(
      ...(await Promise.all(
        versions.slice(i, i + 16).map(async (v) => ({ ...v, ...(await versionLock(deps.s3, deps.config.storage.bucket, v)) })),
      )),
    );
  return out;
}

const lockedAt = (now: Date) => (v: LockedVersion) => v.retainUntil !== null && v.retainUntil.getTime() > now.getTime();

/** Each backup's lock: the latest retain-until over every version in its folder. */
async function backupLocks(deps: RetentionDeps, cluster: string, catalog: CatalogEntry[]): Promise<BackupLocks> {
  const base = `${clusterPrefix(deps.config.storage, cluster)}base/`;
  const locks: BackupLocks = Object.fromEntries(catalog.map((e) => [e.id, { retainUntil: null, mode: null }]));
  for (const v of await versionsWithLocks(deps, base)) {
    const id = v.key.slice(base.length).split('/')[0]!;
    const seen = locks[id];
    if (!seen || !v.retainUntil) continue;
    if (!seen.retainUntil || Date.parse(seen.retainUntil) < v.retainUntil.getTime())
      locks[id] = { retainUntil: v.retainUntil.toISOString(), mode: v.mode };
  }
  return locks;
}

/** WAL before the cutoff on a lock-aware bucket: what may go (every version, markers too) and what a lock holds. */
async function walVersionsBefore(deps: RetentionDeps, cluster: string, cutoff: string | null, now: Date) {
  if (!cutoff) return { unlocked: [], locked: [] };
  const folder = walFolder(deps.config.storage, cluster);
  const all = await versionsWithLocks(deps, folder, (v) => walBeforeCutoff(v.key.slice(folder.length), cutoff));
  // A key goes only with all its versions: one locked version keeps the key's others too.
  const lockedKeys = new Set(all.filter(lockedAt(now)).map((v) => v.key));
  return { unlocked: all.filter((v) => !lockedKeys.has(v.key)), locked: all.filter((v) => lockedKeys.has(v.key)) };
}

/** Objects (not delete markers, not older versions) and their bytes: what the plan reports. */
function walCount(versions: LockedVersion[]) {
  const current = [...new Map(versions.filter((v) => !v.deleteMarker).map((v) => [v.key, v])).values()];
  return { objects: current.length, bytes: current.reduce((n, v) => n + v.bytes, 0) };
}

/**
 * The plan, with the pgBackRest label of every backup it expires: recorded in the workflow's
 * history before anything is deleted, so a retried deletion still knows which sets to expire.
 * On a lock-aware bucket it shows every backup's retain-until and holds back what is locked.
 */
export async function planExpiry(
  deps: RetentionDeps,
  cluster: string,
  policy: RetentionPolicy,
): Promise<{ plan: LockedPlan; walObjects: number; walBytes: number; pgbackrestLabels: string[] }> {
  const catalog = await listCatalog(deps.s3, deps.config.storage, cluster);
  const now = (deps.now ?? (() => new Date()))();
  let plan: LockedPlan = planRetention(catalog, policy, now);
  let walObjects: number;
  let walBytes: number;
  if (await lockAware(deps)) {
    plan = holdLockedBackups(plan, catalog, await backupLocks(deps, cluster, catalog), now);
    const wal = await walVersionsBefore(deps, cluster, plan.walCutoff, now);
    ({ objects: walObjects, bytes: walBytes } = walCount(wal.unlocked));
    const held = walCount(wal.locked);
    const until = wal.locked.reduce<Date | null>((m, v) => (v.retainUntil && (!m || v.retainUntil > m) ? v.retainUntil : m), null);
    if (held.objects > 0) plan = { ...plan, walHeldByLock: { ...held, retainUntil: until!.toISOString() } };
  } else {
    const wal = await walBefore(deps, cluster, plan.walCutoff);
    walObjects = wal.length;
    walBytes = wal.reduce((n, o) => n + o.bytes, 0);
  }
  const pgbackrestLabels = plan.expire.flatMap((e) => catalog.find((c) => c.id === e.id)?.manifest?.pgbackrestLabel ?? []);
  return { plan, walObjects, walBytes, pgbackrestLabels };
}

export async function applyExpiry(
  deps: RetentionDeps,
  cluster: string,
  expire: string[],
  walCutoff: string | null,
): Promise<{ deletedBackups: string[]; walObjects: number; walBytes: number }> {
  const { storage } = deps.config;
  const catalog = await listCatalog(deps.s3, storage, cluster);
  // Defence in depth: whatever the plan says, the newest good backup stays.
  const good = catalog.filter((e) => e.status === 'good');
  const newest = good.at(-1)?.id;
  if (newest && expire.includes(newest))
    throw new Error(`refusing to expire ${newest}: it is the newest good backup of cluster "${cluster}"`);
  if (good.length > 0 && good.every((g) => expire.includes(g.id)))
    throw new Error(`refusing to expire every good backup of cluster "${cluster}"`);
  // Nor may WAL go that a backup which stays still needs to restore.
  const staying = good
    .filter((g) => !expire.includes(g.id))
    .map((g) => g.manifest!.startWalSegment)
    .sort();
  if (walCutoff && staying[0] && walCutoff.slice(8) > staying[0].slice(8)) {
    throw new Error(
      `refusing to prune wal before ${walCutoff}: backup starting at ${staying[0]} stays and needs it (expected a cutoff at or before ${staying[0]})`,
    );
  }
  if (await lockAware(deps)) return applyExpiryVersions(deps, cluster, catalog, expire, walCutoff);
  const deleted: string[] = [];
  for (const id of expire.map(assertBackupId)) {
    const folder = baseFolder(storage, cluster, id);
    const keys = (await listKeys(deps.s3, storage.bucket, folder)).map((o) => o.key);
    if (keys.length === 0) continue; // already gone (a retried attempt)
    const manifest = manifestKey(storage, cluster, id);
    if (keys.includes(manifest)) await deleteKeys(deps.s3, storage.bucket, [manifest]);
    await deleteKeys(
      deps.s3,
      storage.bucket,
      keys.filter((k) => k !== manifest),
    );
    deleted.push(id);
  }
  const wal = await walBefore(deps, cluster, walCutoff);
  await deleteKeys(
    deps.s3,
    storage.bucket,
    wal.map((o) => o.key),
  );
  return { deletedBackups: deleted, walObjects: wal.length, walBytes: wal.reduce((n, o) => n + o.bytes, 0) };
}

/**
 * applyExpiry on a lock-aware bucket: exact versions only, never a delete marker. A backup still
 * locked now (a lock extended since the plan) is left whole, and the WAL it needs with it.
 */
async function applyExpiryVersions(
  deps: RetentionDeps,
  cluster: string,
  catalog: CatalogEntry[],
  expire: string[],
  walCutoff: string | null,
): Promise<{ deletedBackups: string[]; walObjects: number; walBytes: number }> {
  const { storage } = deps.config;
  const now = (deps.now ?? (() => new Date()))();
  const deleted: string[] = [];
  let cutoff = walCutoff;
  for (const id of expire.map(assertBackupId)) {
    const versions = await versionsWithLocks(deps, baseFolder(storage, cluster, id));
    if (versions.length === 0) continue; // already gone (a retried attempt)
    if (versions.some(lockedAt(now))) {
      const start = catalog.find((e) => e.id === id && e.status === 'good')?.manifest?.startWalSegment;
      if (start && cutoff && start.slice(8) < cutoff.slice(8)) cutoff = start;
      continue;
    }
    const manifest = manifestKey(storage, cluster, id);
    await deleteVersions(
      deps.s3,
      storage.bucket,
      versions.filter((v) => v.key === manifest),
    );
    await deleteVersions(
      deps.s3,
      storage.bucket,
      versions.filter((v) => v.key !== manifest),
    );
    deleted.push(id);
  }
  const wal = await walVersionsBefore(deps, cluster, cutoff, now);
  await deleteVersions(deps.s3, storage.bucket, wal.unlocked);
  return { deletedBackups: deleted, ...walCountAs(wal.unlocked) };
}

function walCountAs(versions: LockedVersion[]): { walObjects: number; walBytes: number } {
  const { objects, bytes } = walCount(versions);
  return { walObjects: objects, walBytes: bytes };
}
