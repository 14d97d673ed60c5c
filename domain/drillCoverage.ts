/**
 * Drill coverage: which backups a restore drill has proven recently, what share of the catalog
 * that is, and which backups the next drill proves (the newest, plus the oldest not proven
 * within the proof window). Untested backups are not backups: rotating the second restore
 * through the unproven ones proves every backup in turn. Pure and workflow-safe.
 */
import type { DrillReport, DrillRestore } from './drill.js';

/** The newest passing restore of a backup by a drill. */
export interface BackupProof {
  backupId: string;
  drillId: string;
  /** When the drill that proved it finished. */
  provenAt: string;
}

/** A restore proves its backup when it restored and no error-severity check failed (warnings do not count against it). */
export function restoreProves(r: Pick<DrillRestore, 'restore' | 'error' | 'checks'>): boolean {
  return r.restore !== null && r.error === null && r.checks.every((c) => c.ok || c.severity !== 'error');
}

/** Each backup's newest proof in these drill reports. */
export function proofsFrom(reports: Pick<DrillReport, 'id' | 'finishedAt' | 'restores'>[]): BackupProof[] {
  const newest = new Map<string, BackupProof>();
  for (const d of reports)
    for (const r of d.restores) {
      if (!restoreProves(r)) continue;
      const had = newest.get(r.backupId);
      if (!had || had.provenAt < d.finishedAt) newest.set(r.backupId, { backupId: r.backupId, drillId: d.id, provenAt: d.finishedAt });
    }
  return [...newest.values()];
}

const DAY_MS = 86_400_000;

/** The earliest moment a proof still counts at `now`. */
export function proofWindowStart(now: Date, proofWindowDays: number): Date {
  return new Date(now.getTime() - proofWindowDays * DAY_MS);
}

/** The proofs still inside the window, by backup id. */
function currentProofs(proofs: BackupProof[], now: Date, proofWindowDays: number): Map<string, BackupProof> {
  const since = proofWindowStart(now, proofWindowDays).toISOString();
  return new Map(proofs.filter((p) => p.provenAt >= since).map((p) => [p.backupId, p]));
}

export interface CoverageRow {
  backupId: string;
  /** The newest proof inside the window, else null. */
  proof: BackupProof | null;
}

export interface DrillCoverage {
  proofWindowDays: number;
  /** Good backups in the catalog. */
  backups: number;
  proven: number;
  /** proven / backups; null with no backup to prove. */
  ratio: number | null;
  /** Oldest first. */
  unproven: string[];
  /** Every good backup, oldest first. */
  rows: CoverageRow[];
}

/** Coverage of the good backups `backupIds` (oldest first) by the proofs inside the window. */
export function drillCoverage(backupIds: string[], proofs: BackupProof[], now: Date, proofWindowDays: number): DrillCoverage {
  const current = currentProofs(proofs, now, proofWindowDays);
  const rows = backupIds.map((backupId) => ({ backupId, proof: current.get(backupId) ?? null }));
  const proven = rows.filter((r) => r.proof).length;
  return {
    proofWindowDays,
    backups: rows.length,
    proven,
    ratio: rows.length ? proven / rows.length : null,
    unproven: rows.filter((r) => !r.proof).map((r) => r.backupId),
    rows,
  };
}

export type DrillRole = 'newest' | 'older';

/**
 * What a drill restores, from the restorable good backups (oldest first): the newest always
 * (it is the one a disaster would use), plus, when `withOlder`, the oldest other backup not
 * proven inside the window. With every backup proven, only the newest.
 */
export function drillPicks<B extends { id: string }>(
  good: B[],
  proofs: BackupProof[],
  now: Date,
  o: { proofWindowDays: number; withOlder: boolean },
): { backup: B; role: DrillRole }[] {
  const newest = good.at(-1);
  if (!newest) return [];
  const picks: { backup: B; role: DrillRole }[] = [{ backup: newest, role: 'newest' }];
  if (!o.withOlder) return picks;
  const current = currentProofs(proofs, now, o.proofWindowDays);
  const older = good.slice(0, -1).find((b) => !current.has(b.id));
  if (older) picks.push({ backup: older, role: 'older' });
  return picks;
}
