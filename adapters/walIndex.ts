/**
 * Listing the WAL archive for the check: in full (at least daily, on demand, or without a usable
 * index), else only what is new since the last check: one listing per timeline from the newest
 * key seen on it (S3 StartAfter), whose last one also finds new timelines. The index
 * (domain/walIndex.ts) is kept at `<prefix>/<cluster>/checks/wal-index.json`.
 */
import { expandIndex, fullListingDue, mergeListed, type IndexedWal, type WalIndex } from '../domain/walIndex.js';
import { clusterPrefix, getJson, putJson } from './storage.js';
import { archiveRoot, listArchivedUnder, type WalDeps } from './walStore.js';

/** At least one full listing a day: a segment deleted after it was indexed is found within that. */
export const FULL_LISTING_HOURS = 24;

export interface ArchiveListing {
  archived: IndexedWal[];
  mode: 'full' | 'incremental';
  /** Why the listing was full (null: incremental). */
  why: string | null;
  listCalls: number;
  /** Objects the listing returned (incremental: only what is new). */
  listedObjects: number;
  fullScanAt: string;
  /** The index the listing started from (its history texts spare reading them again). */
  index: WalIndex | undefined;
  /** The newest key per stream prefix, after this listing. */
  lastKeys: Record<string, string>;
}

export function walIndexKey(deps: Pick<WalDeps, 'config'>, cluster: string): string {
  return `${clusterPrefix(deps.config.storage, cluster)}checks/wal-index.json`;
}

/**
 * The stream an archived object belongs to: the archive root, pgBackRest's archive version
 * folder, and the object's timeline. Keys of one timeline sort together under it.
 */
export function streamOf(root: string, entry: Pick<IndexedWal, 'key' | 'name'>): string {
  const rel = entry.key.slice(root.length);
  const version = rel.includes('/') && !/^[0-9A-F]{8}/.test(rel) ? rel.slice(0, rel.indexOf('/') + 1) : '';
  return `${root}${version}${entry.name.slice(0, 8)}`;
}

export async function listArchive(
  deps: WalDeps,
  cluster: string,
  opts: { full: boolean; segmentBytes: number | null; now?: Date },
): Promise<ArchiveListing> {
  const now = opts.now ?? new Date();
  const root = archiveRoot(deps, cluster);
  const counter = { calls: 0 };
  const index = await getJson<WalIndex>(deps.s3, deps.config.storage.bucket, walIndexKey(deps, cluster));
  const why = fullListingDue(index, { root, segmentBytes: opts.segmentBytes, full: opts.full, now, maxAgeHours: FULL_LISTING_HOURS });
  if (why !== null || !index) {
    const archived = await listArchivedUnder(deps, cluster, root, undefined, counter);
    return {
      archived,
      mode: 'full',
      why: why ?? 'no index yet',
      listCalls: counter.calls,
      listedObjects: archived.length,
      fullScanAt: now.toISOString(),
      index,
      lastKeys: newestKeys(root, {}, archived),
    };
  }
  // One listing per stream from its newest key; the newest stream's listing runs over the whole
  // root, so it also finds timelines (and pgBackRest archive versions) newer than any known.
  const streams = Object.entries(index.lastKeys).sort(([, a], [, b]) => a.localeCompare(b));
  const newest = streams.pop();
  const listed: IndexedWal[] = [];
  for (const [prefix, after] of streams) listed.push(...(await listArchivedUnder(deps, cluster, prefix, after, counter)));
  listed.push(...(await listArchivedUnder(deps, cluster, root, newest?.[1], counter)));
  const unique = [...new Map(listed.map((l) => [l.key, l])).values()];
  return {
    archived: mergeListed(expandIndex(index), unique),
    mode: 'incremental',
    why: null,
    listCalls: counter.calls,
    listedObjects: unique.length,
    fullScanAt: index.fullScanAt,
    index,
    lastKeys: newestKeys(root, index.lastKeys, unique),
  };
}

function newestKeys(root: string, from: Record<string, string>, listed: IndexedWal[]): Record<string, string> {
  const out = { ...from };
  for (const l of listed) {
    const stream = streamOf(root, l);
    if (!out[stream] || l.key > out[stream]) out[stream] = l.key;
  }
  return out;
}

export async function storeWalIndex(deps: WalDeps, cluster: string, index: WalIndex): Promise<void> {
  await putJson(deps.s3, deps.config.storage.bucket, walIndexKey(deps, cluster), index);
}
