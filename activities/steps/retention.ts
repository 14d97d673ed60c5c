/** Retention in S3: plan from the catalog, then delete manifest-first, then WAL before the cutoff. */
import type { S3Client } from '@aws-sdk/client-s3';
import { planRetention, walBeforeCutoff, type RetentionPlan, type RetentionPolicy } from '../../domain/retention.js';
import type { PgdrConfig } from '../../config/schema.js';
import { assertBackupId } from '../../domain/naming.js';
import { baseFolder, listCatalog, manifestKey, walFolder } from '../../adapters/catalogStore.js';
import { deleteKeys, listKeys } from '../../adapters/storage.js';

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

/**
 * The plan, with the pgBackRest label of every backup it expires: recorded in the workflow's
 * history before anything is deleted, so a retried deletion still knows which sets to expire.
 */
export async function planExpiry(
  deps: RetentionDeps,
  cluster: string,
  policy: RetentionPolicy,
): Promise<{ plan: RetentionPlan; walObjects: number; walBytes: number; pgbackrestLabels: string[] }> {
  const catalog = await listCatalog(deps.s3, deps.config.storage, cluster);
  const plan = planRetention(catalog, policy, (deps.now ?? (() => new Date()))());
  const wal = await walBefore(deps, cluster, plan.walCutoff);
  const pgbackrestLabels = plan.expire.flatMap((e) => catalog.find((c) => c.id === e.id)?.manifest?.pgbackrestLabel ?? []);
  return { plan, walObjects: wal.length, walBytes: wal.reduce((n, o) => n + o.bytes, 0), pgbackrestLabels };
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
