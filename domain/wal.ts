/**
 * WAL file names and archive continuity. Workflow-safe: pure functions over names and LSNs.
 *
 * Names PostgreSQL archives:
 *   000000010000000000000003                    a segment (timeline, log, seg)
 *   000000010000000000000003.partial            the last, partial segment of a timeline left at promotion
 *   00000002.history                            how timeline 2 branched off its ancestors
 *   000000010000000000000003.00000028.backup    a backup history file (pg_backup_stop)
 */
import { formatLsn, parseLsn } from './lsn.js';
import { historyFileName } from './naming.js';

export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

export type WalFileKind = 'segment' | 'partial' | 'history' | 'backup';

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  timeline: number;
}

const PATTERNS: [WalFileKind, RegExp][] = [
  ['segment', /^([0-9A-F]{8})[0-9A-F]{16}$/],
  ['partial', /^([0-9A-F]{8})[0-9A-F]{16}\.partial$/],
  ['history', /^([0-9A-F]{8})\.history$/],
  ['backup', /^([0-9A-F]{8})[0-9A-F]{16}\.[0-9A-F]{8}\.backup$/],
];

/** What kind of WAL file a name is, or undefined for anything else (never archived or fetched). */
export function parseWalFileName(name: string): WalFileName | undefined {
  for (const [kind, re] of PATTERNS) {
    const m = re.exec(name);
    if (m) return { name, kind, timeline: parseInt(m[1]!, 16) };
  }
  return undefined;
}

/** Refuses anything that is not a WAL file name before it becomes part of a key or a path. */
export function assertWalFileName(name: string): WalFileName {
  const parsed = parseWalFileName(name);
  if (!parsed) {
    throw new RangeError(
      `invalid WAL file name "${name}": expected a segment (24 hex digits), a .partial segment, a TTTTTTTT.history or a segment.XXXXXXXX.backup file`,
    );
  }
  return parsed;
}

function segmentsPerLogId(segmentBytes: number): number {
  return 0x100000000 / segmentBytes;
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');

/** The segment number of a segment name (ignores the timeline). */
export function segmentNumber(name: string, segmentBytes = DEFAULT_SEGMENT_BYTES): number {
  const log = parseInt(name.slice(8, 16), 16);
  const seg = parseInt(name.slice(16, 24), 16);
  return log * segmentsPerLogId(segmentBytes) + seg;
}

export function segmentName(timeline: number, segNo: number, segmentBytes = DEFAULT_SEGMENT_BYTES): string {
  const per = segmentsPerLogId(segmentBytes);
  return `${hex8(timeline)}${hex8(Math.floor(segNo / per))}${hex8(segNo % per)}`;
}

/** The segment number holding an LSN. */
export function segmentOfLsn(lsn: string, segmentBytes = DEFAULT_SEGMENT_BYTES): number {
  return Number(parseLsn(lsn) / BigInt(segmentBytes));
}

/** The LSN just past the end of a segment. */
export function segmentEndLsn(segNo: number, segmentBytes = DEFAULT_SEGMENT_BYTES): string {
  return formatLsn(BigInt(segNo + 1) * BigInt(segmentBytes));
}

export interface HistoryEntry {
  /** The ancestor timeline that ended here. */
  timeline: number;
  /** Where it ended: the first LSN of its successor. */
  switchLsn: string;
  reason: string;
}

/** Parses a TTTTTTTT.history file: "parentTLI<TAB>switchpoint<TAB>reason" per ancestor. */
export function parseHistory(text: string): HistoryEntry[] {
  const out: HistoryEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [tli, lsn, ...reason] = line.split(/\s+/);
    if (!tli || !lsn || !/^\d+$/.test(tli)) throw new RangeError(`malformed timeline history line "${line}"`);
    out.push({ timeline: Number(tli), switchLsn: formatLsn(parseLsn(lsn)), reason: reason.join(' ') });
  }
  return out;
}

export interface TimelineSpan {
  timeline: number;
  /** First LSN on this timeline ("0/0" for the first). */
  beginLsn: string;
  /** First LSN of the successor, or null for the current timeline. */
  endLsn: string | null;
}

/** The timelines leading to `current`, oldest first, from current's history file entries. */
export function timelineSpans(current: number, history: HistoryEntry[]): TimelineSpan[] {
  const spans: TimelineSpan[] = [];
  let begin = '0/0';
  for (const h of history) {
    spans.push({ timeline: h.timeline, beginLsn: begin, endLsn: h.switchLsn });
    begin = h.switchLsn;
  }
  spans.push({ timeline: current, beginLsn: begin, endLsn: null });
  return spans;
}

export interface ContinuityInput {
  /** The oldest kept backup's timeline and first needed segment name. */
  fromTimeline: number;
  fromSegment: string;
  /** The primary's current timeline and its history (empty for timeline 1). */
  currentTimeline: number;
  history: HistoryEntry[];
  /** Last segment that should be archived on the current timeline. */
  lastSegment: string;
  /** Names present in the archive (without compression suffix). */
  present: ReadonlySet<string>;
  segmentBytes?: number;
}

export interface ContinuityResult {
  /** Segments that should be present, in order. */
  expectedCount: number;
  /** Missing segment names, in order (capped at 100). */
  missing: string[];
  missingCount: number;
  /** Timelines whose .history file is missing from the archive. */
  missingHistory: string[];
  /** The from-backup's timeline is not an ancestor of the current one. */
  offChain: boolean;
}

const MISSING_CAP = 100;

/**
 * Every segment a restore from the oldest kept backup would need, up to the last archived one,
 * following the timeline history: timeline t supplies the segments from its begin up to the one
 * before its switch point; the successor supplies the segment holding the switch point.
 */
export function checkContinuity(input: ContinuityInput): ContinuityResult {
  const segBytes = input.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const spans = timelineSpans(input.currentTimeline, input.history);
  const startIndex = spans.findIndex((s) => s.timeline === input.fromTimeline);
  const result: ContinuityResult = { expectedCount: 0, missing: [], missingCount: 0, missingHistory: [], offChain: startIndex < 0 };
  if (startIndex < 0) return result;
  const fromSeg = segmentNumber(input.fromSegment, segBytes);
  const lastSeg = segmentNumber(input.lastSegment, segBytes);
  for (const span of spans.slice(startIndex)) {
    const history = historyFileName(span.timeline);
    if (span.timeline > 1 && !input.present.has(history)) result.missingHistory.push(history);
    const lo = Math.max(segmentOfLsn(span.beginLsn, segBytes), fromSeg);
    const hi = span.endLsn === null ? lastSeg : segmentOfLsn(span.endLsn, segBytes) - 1;
    for (let seg = lo; seg <= hi; seg++) {
      result.expectedCount++;
      const name = segmentName(span.timeline, seg, segBytes);
      if (!input.present.has(name)) {
        result.missingCount++;
        if (result.missing.length < MISSING_CAP) result.missing.push(name);
      }
    }
  }
  return result;
}
