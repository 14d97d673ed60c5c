/**
 * The backup catalog in S3: `<prefix>/<cluster>/base/<id>/` holds a backup's objects and, once
 * it is complete, its manifest.json. No manifest means incomplete, never good.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { BackupManifest, CatalogEntry } from '../domain/catalog.js';
import { assertBackupId } from '../domain/naming.js';
import type { PgdrConfig } from '../config/schema.js';
import { clusterPrefix, getJson, listKeys, objectLockParams, putJsonIfAbsent } from './storage.js';

export function baseFolder(storage: PgdrConfig['storage'], cluster: string, id: string): string {
  return `${clusterPrefix(storage, cluster)}base/${id}/`;
}

export function manifestKey(storage: PgdrConfig['storage'], cluster: string, id: string): string {
  return `${baseFolder(storage, cluster, id)}manifest.json`;
}

export function walFolder(storage: PgdrConfig['storage'], cluster: string): string {
  return `${clusterPrefix(storage, cluster)}wal/`;
}

/**
 * Ids of the backups with a manifest.json (one listing, no manifest read). On the secondary a
 * manifest is written only after every object of the backup was copied and checked.
 */
export async function catalogIds(s3: S3Client, storage: PgdrConfig['storage'], cluster: string): Promise<Set<string>> {
  const base = `${clusterPrefix(storage, cluster)}base/`;
  const keys = await listKeys(s3, storage.bucket, base);
  return new Set(keys.filter((k) => k.key.endsWith('/manifest.json')).map((k) => k.key.slice(base.length).split('/')[0]!));
}

/** Every backup of a cluster, oldest first, with its status. */
export async function listCatalog(s3: S3Client, storage: PgdrConfig['storage'], cluster: string): Promise<CatalogEntry[]> {
  const base = `${clusterPrefix(storage, cluster)}base/`;
  const keys = await listKeys(s3, storage.bucket, base);
  const byId = new Map<string, string[]>();
  for (const { key } of keys) {
    const id = key.slice(base.length).split('/')[0]!;
    byId.set(id, [...(byId.get(id) ?? []), key]);
  }
  const entries: CatalogEntry[] = [];
  for (const [id, objectKeys] of [...byId].sort(([a], [b]) => a.localeCompare(b))) {
    const mkey = manifestKey(storage, cluster, id);
    const manifest = objectKeys.includes(mkey) ? await getJson<BackupManifest>(s3, storage.bucket, mkey) : undefined;
    entries.push(
      manifest ? { id, status: manifest.status, manifest } : { id, status: 'incomplete', manifest: null, orphanKeys: objectKeys },
    );
  }
  return entries;
}

export async function readManifest(
  s3: S3Client,
  storage: PgdrConfig['storage'],
  cluster: string,
  id: string,
): Promise<BackupManifest | undefined> {
  return getJson<BackupManifest>(s3, storage.bucket, manifestKey(storage, cluster, id));
}

/** Writes the manifest once; a retry finding the same backup's manifest is a success. */
export async function writeManifest(s3: S3Client, storage: PgdrConfig['storage'], manifest: BackupManifest): Promise<void> {
  assertBackupId(manifest.id);
  const key = manifestKey(storage, manifest.cluster, manifest.id);
  if (await putJsonIfAbsent(s3, storage.bucket, key, manifest, objectLockParams(storage))) return;
  const existing = await getJson<BackupManifest>(s3, storage.bucket, key);
  if (existing?.workflowId !== manifest.workflowId) {
    throw new Error(`manifest ${key} already exists, written by ${existing?.workflowId ?? 'unknown'}; refusing to overwrite it`);
  }
}
