/**
 * Which backups and WAL retention may remove. Pure and workflow-safe, so it is unit-tested
 * directly and gives the same answer in a dry run and a real run.
 */
import type { CatalogEntry } from './catalog.js';

export interface RetentionPolicy {
  fullCount: number;
  recoveryWindowDays?: number;
  /**
   * retention.minWindow in seconds: a backup is expirable only when a newer kept full stopped at
   * or before now - minWindow, so the window start stays at or before it. Absent (inputs recorded
   * before it existed): no minimum.
   */
  minWindowSeconds?: number;
}

export interface RetentionPlan {
  keep: string[];
  expire: { id: string; status: string; reason: string }[];
  /** Kept only because of minWindow: fullCount and recoveryWindowDays alone would expire them. */
  heldByMinWindow: { id: string; reason: string }[];
  /** WAL whose segment position is before this one's is no longer needed; null: delete no WAL. */
  walCutoff: string | null;
}

export function planRetention(entries: CatalogEntry[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const sorted = [...entries].sort((a, b) => a.id.localeCompare(b.id));
  const good = sorted.filter((e) => e.status === 'good' && e.manifest);
  const fulls = good.filter((e) => e.manifest!.type === 'full');
  // With no good full there is nothing to anchor on: keep everything.
  if (fulls.length === 0) return { keep: sorted.map((e) => e.id), expire: [], heldByMinWindow: [], walCutoff: null };

  // Restoring to a point T needs the newest full that stopped at or before T: with none, all stay.
  const anchorFor = (windowStart: number): number => {
    let anchor = -1;
    fulls.forEach((f, i) => {
      if (Date.parse(f.manifest!.stopTime) <= windowStart) anchor = i;
    });
    return anchor === -1 ? 0 : anchor;
  };
  let firstKept = Math.max(0, fulls.length - policy.fullCount);
  if (policy.recoveryWindowDays !== undefined)
    firstKept = Math.min(firstKept, anchorFor(now.getTime() - policy.recoveryWindowDays * 86_400_000));
  // minWindow: however many backups a burst added, the window still reaches back minWindow.
  const byPolicy = fulls[firstKept]!;
  const heldByMinWindow: RetentionPlan['heldByMinWindow'] = [];
  if (policy.minWindowSeconds !== undefined && policy.minWindowSeconds > 0) {
    const floor = new Date(now.getTime() - policy.minWindowSeconds * 1000);
    const first = anchorFor(floor.getTime());
    if (first < firstKept) {
      firstKept = first;
      const by =
        Date.parse(fulls[first]!.manifest!.stopTime) <= floor.getTime()
          ? `${fulls[first]!.id} is the newest full that stopped by then`
          : 'no full stopped by then';
      const reason = `kept by retention.minWindow ${formatSeconds(policy.minWindowSeconds)}: the recovery window must reach back to ${floor.toISOString()} and ${by}`;
      for (const e of sorted) if (e.id >= fulls[first]!.id && e.id < byPolicy.id) heldByMinWindow.push({ id: e.id, reason });
    }
  }
  const oldestKept = fulls[firstKept]!;
  const keep: string[] = [];
  const expire: RetentionPlan['expire'] = [];
  for (const e of sorted) {
    if (e.id >= oldestKept.id) keep.push(e.id);
    else
      expire.push({
        id: e.id,
        status: e.status,
        reason: e.status === 'good' ? `older than the oldest kept full ${oldestKept.id}` : `${e.status} and older than ${oldestKept.id}`,
      });
  }
  return { keep, expire, heldByMinWindow, walCutoff: oldestKept.manifest!.startWalSegment };
}

/** 604800 -> "7d", 5400 -> "90m": a duration as the config writes it. */
function formatSeconds(s: number): string {
  for (const [unit, n] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const)
    if (s % n === 0) return `${s / n}${unit}`;
  return `${s}s`;
}

const WAL_NAME = /^([0-9A-F]{8})([0-9A-F]{16})(\.[0-9A-F]{8}\.backup|\.partial)?(\.[a-z0-9]+)?$/;

/** True when an archived WAL file (by base name) lies wholly before the cutoff segment. History files are always kept. */
export function walBeforeCutoff(fileName: string, cutoff: string): boolean {
  const m = WAL_NAME.exec(fileName);
  if (!m) return false;
  // Like pg_archivecleanup: compare log/segment, ignoring the timeline.
  return m[2]! < cutoff.slice(8, 24);
}
