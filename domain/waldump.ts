/**
 * pg_waldump's output, read strictly. Pure and workflow-safe.
 *
 * pg_waldump prints one record per line:
 *   rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/03000060, prev 0/03000028, desc: RESTORE_POINT qa-lead
 * but a description holds text of the database's users raw (a restore point's name, a
 * prepared transaction's GID), line breaks included, so such a text can hold a line that looks
 * like a record. Hence: a line is only a candidate when it is a complete, well-formed record
 * line; a restore point's name is the rest of its line, compared exactly; and a candidate only
 * counts once pg_waldump, asked for the one record at the candidate's LSN, prints exactly that
 * line again (`sameRecord`). A forged line has no record of its own at its LSN, and a real
 * record whose text continues on further lines prints more than one line.
 */
import { parseLsn } from './lsn.js';

export interface WalRecord {
  rmgr: string;
  recLen: number;
  totLen: number;
  xid: number;
  lsn: string;
  prev: string;
  /** The record type, e.g. COMMIT, RESTORE_POINT. */
  kind: string;
  /** The rest of the line after the type and its one space, exactly as printed (never trimmed). */
  desc: string;
  /** The whole line. */
  line: string;
}

// printf("rmgr: %-11s len (rec/tot): %6u/%8u, tx: %10u, lsn: %X/%08X, prev %X/%08X, desc: %s ", ...)
const RECORD =
  /^rmgr: ([A-Za-z0-9]+) +len \(rec\/tot\): +(\d+)\/ +(\d+), tx: +(\d+), lsn: ([0-9A-F]{1,8}\/[0-9A-F]{8}), prev ([0-9A-F]{1,8}\/[0-9A-F]{8}), desc: ([A-Z0-9_+]+) (.*)$/;

/**
 * A RESTORE_POINT record is fixed-size (xl_restore_point: a timestamp and a 64-byte name, plus
 * the record and data headers), so a real one always says 98/98.
 */
export const RESTORE_POINT_RECORD_BYTES = 98;

/** One line as a record, if it is a complete, well-formed record line. */
export function parseRecordLine(line: string): WalRecord | null {
  const m = RECORD.exec(line);
  if (!m) return null;
  return {
    rmgr: m[1]!,
    recLen: Number(m[2]),
    totLen: Number(m[3]),
    xid: Number(m[4]),
    lsn: m[5]!,
    prev: m[6]!,
    kind: m[7]!,
    desc: m[8]!,
    line,
  };
}

/** Every complete, well-formed record line of pg_waldump's stdout, in order; other lines are skipped. */
export function recordLines(stdout: string): WalRecord[] {
  return stdout.split('\n').flatMap((line) => parseRecordLine(line) ?? []);
}

/** Newest first by LSN, the order a scan verifies candidates in (a forged line may sit anywhere). */
export function newestFirst(records: WalRecord[]): WalRecord[] {
  return [...records].sort((a, b) => (parseLsn(b.lsn) > parseLsn(a.lsn) ? 1 : parseLsn(b.lsn) < parseLsn(a.lsn) ? -1 : 0));
}

/** Candidates for the restore point of exactly this name (no trimming, no case folding), newest first. */
export function restorePointCandidates(records: WalRecord[], name: string): WalRecord[] {
  return newestFirst(records.filter((r) => isRestorePoint(r) && r.desc === name));
}

/** Candidates for the newest commit, newest first. */
export function commitCandidates(records: WalRecord[]): WalRecord[] {
  return newestFirst(records.filter((r) => commitTime(r) !== null));
}

export function isRestorePoint(r: WalRecord): boolean {
  return (
    r.rmgr === 'XLOG' && r.kind === 'RESTORE_POINT' && r.recLen === RESTORE_POINT_RECORD_BYTES && r.totLen === RESTORE_POINT_RECORD_BYTES
  );
}

const COMMIT_TIME = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?) UTC(?:;|$)/;

/** Candidates for the end (commit or abort record) of one transaction, newest first. */
export function xactCandidates(records: WalRecord[], xid: number): WalRecord[] {
  return newestFirst(records.filter((r) => r.xid === xid && xactEnd(r) !== null));
}

/** A commit or abort record's kind and time (RFC 3339, microseconds kept), or null for any other record. */
export function xactEnd(r: WalRecord): { kind: 'commit' | 'abort'; time: string } | null {
  if (r.rmgr !== 'Transaction' || (r.kind !== 'COMMIT' && r.kind !== 'ABORT')) return null;
  const m = COMMIT_TIME.exec(r.desc);
  return m ? { kind: r.kind === 'COMMIT' ? 'commit' : 'abort', time: `${m[1]!.replace(' ', 'T')}Z` } : null;
}

/** A commit record's time as RFC 3339 (microseconds kept), or null for any other record. */
export function commitTime(r: WalRecord): string | null {
  if (r.rmgr !== 'Transaction' || r.kind !== 'COMMIT') return null;
  const m = COMMIT_TIME.exec(r.desc);
  return m ? `${m[1]!.replace(' ', 'T')}Z` : null;
}

/**
 * True when `again`, pg_waldump's stdout for `--start=<lsn> --limit=1` (no rmgr filter) with
 * its final line break removed, as the tool gateway returns it, is exactly the candidate's line:
 * one line, the same text. A line forged inside another record's text has no record of its own
 * at its LSN; a record whose text goes on over more lines (a name with a line break, even a
 * trailing one) prints more than its first line.
 */
export function sameRecord(r: WalRecord, again: string): boolean {
  return again === r.line;
}
