/**
 * The WAL archive's index: what the listings found, kept compact in S3 between checks so that a
 * check lists only what is new (per timeline, S3 StartAfter from the newest key seen on it).
 * Segments go in as runs of consecutive numbers; kept whole (name, key, size, time) are every
 * other object (.history, .backup, .partial), each timeline's newest segment, and every segment
 * at or past the point where a child timeline branched off (the split-brain judge compares their
 * times with the child's birth). History files are immutable once archived: their text is kept.
 * Pure.
 */
import { parseHistory, segmentName, segmentNumber, segmentOfLsn } from './wal.js';

/** How a WAL check listed the archive. */
export interface WalListing {
  mode: 'full' | 'incremental';
  /** Why the listing was full (null: incremental). */
  why: string | null;
  /** LIST requests made of the archive (incremental: one per timeline, however large the archive). */
  listCalls: number;
  /** Objects those requests returned (incremental: only the new ones). */
  listedObjects: number;
  /** When the last full listing ran. */
  fullScanAt: string;
}

/** One archived object as the listing gives it (an expanded run has no key, size or time). */
export interface IndexedWal {
  name: string;
  key: string;
  bytes: number;
  lastModified: string | null;
}

export interface WalIndex {
  formatVersion: 1;
  /** The listing root the keys live under; another root (prefix or method changed) starts over. */
  root: string;
  segmentBytes: number;
  /** When the last full listing ran (a full one runs at least daily, and on demand). */
  fullScanAt: string;
  updatedAt: string;
  /** Consecutive segments per timeline (decimal), as [first name, count]. */
  runs: Record<string, [string, number][]>;
  /** Objects kept whole (see the module comment). */
  entries: IndexedWal[];
  /** Text of each .history file read, by timeline (decimal). */
  histories: Record<string, string>;
  /** The newest key listed under each stream prefix (one per timeline, per pgBackRest archive version). */
  lastKeys: Record<string, string>;
  /**
   * The sweep: each incremental check also re-lists one page of the whole archive from here (the
   * key and the WAL name it ends on; null: from the start), so a deleted object shows within a
   * few checks, before the daily full listing.
   */
  sweepAfter?: { key: string; name: string | null } | null;
}

const SEGMENT = /^[0-9A-F]{24}$/;
const tl = (name: string) => parseInt(name.slice(0, 8), 16);

/** The index of a complete listing `archived` (every object, oldest name first). */
export function compactIndex(input: {
  root: string;
  segmentBytes: number;
  archived: IndexedWal[];
  histories: Record<string, string>;
  lastKeys: Record<string, string>;
  fullScanAt: string;
  now: string;
  sweepAfter?: WalIndex['sweepAfter'];
}): WalIndex {
  const { segmentBytes } = input;
  // Where each timeline's children branched off: its segments from there on stay whole.
  const keepFrom = new Map<number, number>();
  for (const text of Object.values(input.histories)) {
    const last = parseHistory(text).at(-1);
    if (!last) continue;
    const seg = segmentOfLsn(last.switchLsn, segmentBytes);
    keepFrom.set(last.timeline, Math.min(keepFrom.get(last.timeline) ?? Infinity, seg));
  }
  const segments = input.archived.filter((a) => SEGMENT.test(a.name)).sort((a, b) => a.name.localeCompare(b.name));
  const newest = new Map<number, string>();
  for (const s of segments) newest.set(tl(s.name), s.name);
  const entries: IndexedWal[] = input.archived.filter((a) => !SEGMENT.test(a.name));
  const runs: Record<string, [string, number][]> = {};
  let prev: { timeline: number; no: number } | null = null;
  for (const s of segments) {
    const timeline = tl(s.name);
    const no = segmentNumber(s.name, segmentBytes);
    if (newest.get(timeline) === s.name || no >= (keepFrom.get(timeline) ?? Infinity)) {
      entries.push(s);
      continue;
    }
    const list = (runs[String(timeline)] ??= []);
    const run = list.at(-1);
    if (run && prev && prev.timeline === timeline && prev.no === no - 1) run[1]++;
    else list.push([s.name, 1]);
    prev = { timeline, no };
  }
  return {
    formatVersion: 1,
    root: input.root,
    segmentBytes,
    fullScanAt: input.fullScanAt,
    updatedAt: input.now,
    runs,
    entries: entries.sort((a, b) => a.name.localeCompare(b.name)),
    histories: input.histories,
    lastKeys: input.lastKeys,
    sweepAfter: input.sweepAfter ?? null,
  };
}

/**
 * What a sweep page shows missing: the known names between where the page starts (after
 * `afterName`; the archive's start when null) and where it ends (its last name; the archive's end
 * when it was the last page) that the page does not hold. New objects in the page are no concern.
 */
export function sweepMissing(known: IndexedWal[], page: IndexedWal[], afterName: string | null, lastPage: boolean): string[] {
  const names = new Set(page.map((p) => p.name));
  const end = lastPage
    ? null
    : (page
        .map((p) => p.name)
        .sort()
        .at(-1) ?? null);
  if (!lastPage && end === null) return [];
  return known.map((k) => k.name).filter((n) => (afterName === null || n > afterName) && (end === null || n <= end) && !names.has(n));
}

/** Every object the index knows, oldest name first (segments from runs without key, size or time). */
export function expandIndex(index: WalIndex): IndexedWal[] {
  const out: IndexedWal[] = [...index.entries];
  for (const [timeline, list] of Object.entries(index.runs)) {
    for (const [first, count] of list) {
      const start = segmentNumber(first, index.segmentBytes);
      for (let i = 0; i < count; i++)
        out.push({ name: segmentName(Number(timeline), start + i, index.segmentBytes), key: '', bytes: 0, lastModified: null });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
}

/** `known` with what a listing found since: a listed object replaces a known one of the same key (or name, for run members). */
export function mergeListed(known: IndexedWal[], listed: IndexedWal[]): IndexedWal[] {
  const keys = new Set(listed.map((l) => l.key));
  const names = new Set(listed.map((l) => l.name));
  const kept = known.filter((k) => (k.key ? !keys.has(k.key) : !names.has(k.name)));
  return [...kept, ...listed].sort((a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key));
}

/** True when a full listing is due: none yet, another root or segment size, on demand, or the last one older than `maxAgeHours`. */
export function fullListingDue(
  index: WalIndex | undefined,
  want: { root: string; segmentBytes: number | null; full: boolean; now: Date; maxAgeHours: number },
): string | null {
  if (want.full) return 'asked for';
  if (!index) return 'no index yet';
  if (index.formatVersion !== 1 || index.root !== want.root) return 'the archive moved';
  if (want.segmentBytes !== null && index.segmentBytes !== want.segmentBytes) return 'another segment size';
  const age = (want.now.getTime() - Date.parse(index.fullScanAt)) / 3_600_000;
  if (!(age < want.maxAgeHours)) return `the last full listing is ${Math.floor(age)} h old`;
  return null;
}
