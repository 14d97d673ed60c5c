/**
 * Listing the WAL archive for the check: in full (at least daily, on demand, or without a usable
 * index), else only what is new since the last check: one listing per timeline from the newest
 * key seen on it (S3 StartAfter), whose last one also finds new timelines. The index
 * (domain/walIndex.ts) is kept at `<prefix>/<cluster>/checks/wal-index.json`.
 */
import { expandIndex, fullListingDue, mergeListed, sweepMissing, type IndexedWal, type WalIndex } from '../domain/walIndex.js';
import { clusterPrefix, getJson, listPage, putJson } from './storage.js';
import { archiveRoot, listArchivedUnder, parseArchived, type WalDeps } from './walStore.js';

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
  /** Incremental: indexed objects the sweep page no longer finds (deleted, or expired by retention). */
  sweepMissing: string[];
  /** Where the next sweep page starts. */
  sweepAfter: WalIndex['sweepAfter'];
}

/** Keys a sweep page lists: a 5-minute check re-lists 288,000 keys a day on top of what is new. */
export const SWEEP_KEYS = 1000;

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
  const stored = await getJson<WalIndex>(deps.s3, deps.config.storage.bucket, walIndexKey(deps, cluster)).catch(() => undefined);
  const index = stored && wellFormed(stored) ? stored : undefined;
  const why =
    stored && !index
      ? 'the index was unreadable'
      : fullListingDue(index, { root, segmentBytes: opts.segmentBytes, full: opts.full, now, maxAgeHours: FULL_LISTING_HOURS });
  if (why !== null || !index) {
    const archived = await listArchivedUnder(deps, cluster, root, undefined, counter);
    return {
      archived,
      mode: 'full',
      why: why ?? 'no index yet',
      // A full listing trusts nothing of the index (not even its .history texts).
      listCalls: counter.calls,
      listedObjects: archived.length,
      fullScanAt: now.toISOString(),
      index: undefined,
      lastKeys: newestKeys(root, {}, archived),
      sweepMissing: [],
      sweepAfter: null,
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
  const known = expandIndex(index);
  // The sweep: one more page of the whole archive, from where the last one ended. Across several
  // pgBackRest archive versions names repeat, so there the daily full listing does it alone.
  let sweepAfter = index.sweepAfter ?? null;
  let missing: string[] = [];
  if (singleVersion(root, index.lastKeys)) {
    const page = await listPage(deps.s3, deps.config.storage.bucket, root, { startAfter: sweepAfter?.key, maxKeys: SWEEP_KEYS }, counter);
    const parsed = parseArchived(deps, cluster, page.keys);
    missing = sweepMissing(known, parsed, sweepAfter?.name ?? null, page.next === undefined);
    const lastKey = page.keys.at(-1)?.key;
    sweepAfter = page.next !== undefined && lastKey ? { key: lastKey, name: parsed.at(-1)?.name ?? sweepAfter?.name ?? null } : null;
  }
  return {
    sweepMissing: missing,
    sweepAfter,
    archived: mergeListed(known, unique),
    mode: 'incremental',
    why: null,
    listCalls: counter.calls,
    listedObjects: unique.length,
    fullScanAt: index.fullScanAt,
    index,
    lastKeys: newestKeys(root, index.lastKeys, unique),
  };
}

/** The shape an index must have to be used (anything else, such as a hand edit gone wrong, means a full listing). */
function wellFormed(i: WalIndex): boolean {
  const isRecord = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
  return (
    isRecord(i) &&
    typeof i.root === 'string' &&
    typeof i.fullScanAt === 'string' &&
    Number.isInteger(i.segmentBytes) &&
    isRecord(i.runs) &&
    Object.values(i.runs).every(
      (r) => Array.isArray(r) && r.every((x) => Array.isArray(x) && typeof x[0] === 'string' && Number.isInteger(x[1])),
    ) &&
    Array.isArray(i.entries) &&
    isRecord(i.histories) &&
    isRecord(i.lastKeys)
  );
}

/** True when every stream is in one archive version (always, for pgdr's own layout). */
function singleVersion(root: string, lastKeys: Record<string, string>): boolean {
  return new Set(Object.keys(lastKeys).map((p) => p.slice(root.length, -8))).size <= 1;
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
