/**
 * Restore drills: the checks a restored copy must pass, how an assertion's expectation is
 * judged, and the drill report. Pure and workflow-safe.
 */
import type { BackupMethod } from './catalog.js';
import type { RestoreReport } from './restore.js';

export interface DrillCheck {
  name: string;
  kind: 'verification' | 'checksums' | 'amcheck' | 'assertion' | 'rowcount';
  ok: boolean;
  /** A failing warning is reported but does not fail the drill (e.g. row counts of a busy source). */
  severity: 'error' | 'warning';
  actual: string | null;
  expected: string;
  detail?: string;
}

export interface DrillRestore {
  backupId: string;
  method: BackupMethod;
  /** The newest backup, or the older one the drill proves in turn (domain/drillCoverage.ts). */
  role: 'newest' | 'older';
  restore: RestoreReport | null;
  checks: DrillCheck[];
  /** Start of the drill to a consistent instance that passed its checks. */
  rtoSeconds: number | null;
  /** Now against the newest commit recovered. */
  rpoSeconds: number | null;
  lastCommitTime: string | null;
  checksSeconds: number | null;
  error: string | null;
  teardown: { removed: boolean } | null;
}

export interface DrillReport {
  formatVersion: 1;
  id: string;
  cluster: string;
  workflowId: string;
  trigger: string;
  target: 'latest' | 'immediate';
  node: string;
  ok: boolean;
  /** The failed checks in words, each with its actual and expected value. */
  failures: string[];
  restores: DrillRestore[];
  /** Of the newest backup's restore: the figures the metrics show. */
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  startedAt: string;
  finishedAt: string;
  /** The repository the drill restored from (its report is stored there too); absent: the primary. */
  repository?: 'secondary';
  /** Why, when auto chose the secondary. */
  notes?: string[];
}

const DURATION: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds of "90s", "30m", "6h", "2d". */
export function durationSeconds(text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!m) throw new RangeError(`invalid duration "${text}": expected a number and s, m, h or d`);
  return Number(m[1]) * DURATION[m[2]!]!;
}

/**
 * Judges one assertion's actual value against its expectation: comparisons are numeric when
 * both sides are numbers, else textual ("= on"); "fresh within 30m" wants a timestamp no older
 * than that at `now`.
 */
export function judgeAssertion(expect: string, actual: string | null, now: Date): boolean {
  if (actual === null) return false;
  const fresh = /^fresh within (\d+(?:s|m|h|d))$/.exec(expect);
  if (fresh) {
    const t = Date.parse(actual.includes('T') ? actual : actual.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
    return Number.isFinite(t) && now.getTime() - t <= durationSeconds(fresh[1]!) * 1000;
  }
  const m = /^(>=|<=|!=|>|<|=) (.*)$/.exec(expect);
  if (!m) return false;
  const [, op, raw] = m;
  const want = raw!.replace(/^'(.*)'$/, '$1');
  const numeric = want.trim() !== '' && actual.trim() !== '' && Number.isFinite(Number(want)) && Number.isFinite(Number(actual));
  const cmp = numeric ? Math.sign(Number(actual) - Number(want)) : actual < want ? -1 : actual > want ? 1 : 0;
  switch (op) {
    case '>':
      return cmp > 0;
    case '>=':
      return cmp >= 0;
    case '<':
      return cmp < 0;
    case '<=':
      return cmp <= 0;
    case '=':
      return cmp === 0;
    default:
      return cmp !== 0;
  }
}

/** A failed check in words: what, actual, expected. */
export function describeFailure(c: DrillCheck, backupId: string): string {
  return `${c.kind} "${c.name}" failed on backup ${backupId}: actual ${c.actual ?? 'none'}, expected ${c.expected}${c.detail ? ` (${c.detail})` : ''}`;
}
