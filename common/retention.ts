/**
 * Which backups and WAL retention may remove. Pure and workflow-safe, so it is unit-tested
 * directly and gives the same answer in a dry run and a real run.
 */
import type { CatalogEntry } from './catalog.js';

export interface RetentionPolicy {
  fullCount: number;
  recoveryWindowDays?: number;
}

export interface RetentionPlan {
  keep: string[];
  expire: { id: string; status: string; reason: string }[];
  /** WAL whose segment position is before this one's is no longer needed; null: delete no WAL. */
  walCutoff: string | null;
}

export function planRetention(entries: CatalogEntry[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const sorted = [...entries].sort((a, b) => a.id.localeCompare(b.id));
  const good = sorted.filter((e) => e.status === 'good' && e.manifest);
  const fulls = good.filter((e) => e.manifest!.type === 'full');
  // With no good full there is nothing to anchor on: keep everything.
  if (fulls.length === 0) return { keep: sorted.map((e) => e.id), expire: [], walCutoff: null };

  let firstKept = Math.max(0, fulls.length - policy.fullCount);
  if (policy.recoveryWindowDays !== undefined) {
    // Restoring to the start of the window needs the newest full that stopped before it.
    const windowStart = now.getTime() - policy.recoveryWindowDays * 86_400_000;
    let anchor = -1;
    fulls.forEach((f, i) => {
      if (Date.parse(f.manifest!.stopTime) <= windowStart) anchor = i;
    });
    firstKept = Math.min(firstKept, anchor === -1 ? 0 : anchor);
  }
  const oldestKept = fulls[firstKept]!;
  const keep: string[] = [];
  const expire: RetentionPlan['expire'] = [];
  for (const e of sorted) {
    if (e.id >= oldestKept.id) keep.push(e.id);
    else expire.push({ id: e.id, status: e.status, reason: e.status === 'good' ? `older than the oldest kept full ${oldestKept.id}` : `${e.status} and older than ${oldestKept.id}` });
  }
  return { keep, expire, walCutoff: oldestKept.manifest!.startWalSegment };
}

const WAL_NAME = /^([0-9A-F]{8})([0-9A-F]{16})(\.[0-9A-F]{8}\.backup|\.partial)?(\.[a-z0-9]+)?$/;

/** True when an archived WAL file (by base name) lies wholly before the cutoff segment. History files are always kept. */
export function walBeforeCutoff(fileName: string, cutoff: string): boolean {
  const m = WAL_NAME.exec(fileName);
  if (!m) return false;
  // Like pg_archivecleanup: compare log/segment, ignoring the timeline.
  return m[2]! < cutoff.slice(8, 24);
}
