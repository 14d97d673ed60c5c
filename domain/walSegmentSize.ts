/**
 * The WAL segment size of a cluster (initdb --wal-segsize: a power of two from 1 MiB to 1 GiB),
 * which every segment name and LSN computation needs. Workflow-safe: pure.
 *
 * Where it comes from, best first: the live server (`current_setting('wal_segment_size')`), the
 * backups' manifests (`segmentBytes`, recorded since pgdr read it), the archive (a segment's
 * size, uncompressed). Manifests without it were written when pgdr assumed 16 MiB. One cluster
 * has one size: sources that disagree mean two systems share a prefix, and are refused.
 */
import { WalSegmentSizeMismatchError } from './errors.js';
import { DEFAULT_SEGMENT_BYTES } from './wal.js';

export const MIN_SEGMENT_BYTES = 1024 * 1024;
export const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;

/** 1 MiB .. 1 GiB and a power of two, as initdb allows. */
export function isSegmentBytes(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_SEGMENT_BYTES && n <= MAX_SEGMENT_BYTES && (n & (n - 1)) === 0;
}

/**
 * `current_setting('wal_segment_size')` / SHOW as bytes: "16MB", "1GB", "1024kB" (the GUC's
 * unit is bytes; SHOW prints it with the largest exact unit).
 */
export function parseWalSegmentSize(text: string): number {
  const m = /^(\d+)\s*(kB|MB|GB)?$/.exec(text.trim());
  const unit = m?.[2] === 'GB' ? 1024 ** 3 : m?.[2] === 'MB' ? 1024 ** 2 : m?.[2] === 'kB' ? 1024 : 1;
  const bytes = m ? Number(m[1]) * unit : NaN;
  if (!isSegmentBytes(bytes))
    throw new RangeError(`unexpected wal_segment_size "${text}": expected a power of two from 1MB to 1GB, as SHOW prints it`);
  return bytes;
}

/** 16777216 → "16 MiB". */
export function formatSegmentBytes(n: number): string {
  return n >= 1024 ** 3 ? `${n / 1024 ** 3} GiB` : `${n / 1024 ** 2} MiB`;
}

export interface SegmentSizeEvidence {
  /** The live server's size, or null when none answered. */
  server: number | null;
  /** Good backups' recorded sizes (absent: written before pgdr recorded it). */
  backups: { id: string; segmentBytes?: number }[];
  /** An archived segment's uncompressed size, with its name; null when not looked at. */
  archived: { name: string; bytes: number } | null;
}

export interface ResolvedSegmentSize {
  segmentBytes: number;
  source: 'server' | 'backups' | 'archive' | 'default';
}

/** The cluster's segment size from what is known; refuses sources that disagree, naming each. */
export function resolveSegmentBytes(cluster: string, e: SegmentSizeEvidence): ResolvedSegmentSize {
  const said: { who: string; bytes: number }[] = [];
  if (e.server !== null) said.push({ who: 'the server', bytes: e.server });
  for (const b of e.backups) if (b.segmentBytes !== undefined) said.push({ who: `backup ${b.id}`, bytes: b.segmentBytes });
  // An object of no possible segment size (a test's stand-in, a truncated upload) says nothing
  // about the size; fetch's sha256 check is what catches a damaged one.
  if (e.archived && isSegmentBytes(e.archived.bytes)) said.push({ who: `archived segment ${e.archived.name}`, bytes: e.archived.bytes });
  const sizes = new Set(said.map((s) => s.bytes));
  if (sizes.size > 1) {
    const groups = [...sizes].map((b) => {
      const who = said.filter((s) => s.bytes === b).map((s) => s.who);
      return `${formatSegmentBytes(b)} (${who.slice(0, 3).join(', ')}${who.length > 3 ? ` and ${who.length - 3} more` : ''})`;
    });
    throw new WalSegmentSizeMismatchError(cluster, groups.join(' vs '));
  }
  const first = said[0];
  if (!first) return { segmentBytes: DEFAULT_SEGMENT_BYTES, source: 'default' };
  return {
    segmentBytes: first.bytes,
    source: e.server !== null ? 'server' : first.who.startsWith('backup') ? 'backups' : 'archive',
  };
}
