/**
 * S3 Object Lock, the pure part: the retain-until date pgdr writes on each base backup object,
 * manifest and WAL/.history object, and how a retention plan treats backups still locked.
 * Workflow-safe (no Node imports), so planExpiry and the unit tests share it.
 */
import type { CatalogEntry } from './catalog.js';
import type { RetentionPlan } from './retention.js';

export type ObjectLockMode = 'governance' | 'compliance';

export interface ObjectLockSetting {
  mode: ObjectLockMode;
  /** Days each object stays locked after it was written (before the margin). */
  days: number;
}

/**
 * Added to every lock: clock skew between the host that writes and S3, and the hours between a
 * backup's first object and its manifest, must never make a lock end before `days` have passed.
 */
export const LOCK_MARGIN_SECONDS = 86_400;

/** The retain-until date of an object written at `writtenAt`: days plus the margin, to the next whole second. */
export function lockRetainUntil(lock: ObjectLockSetting, writtenAt: Date): Date {
  return new Date(Math.ceil((writtenAt.getTime() + lock.days * 86_400_000 + LOCK_MARGIN_SECONDS * 1000) / 1000) * 1000);
}

/** Whole days of history retention promises, for checking that the lock covers it; 0 for a count-only policy. */
export function retentionPromiseDays(retention: { recoveryWindowDays?: number; minWindowSeconds: number }): number {
  return Math.max(retention.recoveryWindowDays ?? 0, Math.ceil(retention.minWindowSeconds / 86_400));
}

/** Why objectLock.days falls short of what retention promises, or undefined when it covers it (the loader adds the value). */
export function lockShortfall(lock: ObjectLockSetting, retention: { recoveryWindowDays?: number; minWindowSeconds: number }) {
  const promise = retentionPromiseDays(retention);
  if (lock.days >= promise) return undefined;
  const by =
    (retention.recoveryWindowDays ?? 0) >= promise ? `retention.recoveryWindowDays ${promise}` : `retention.minWindow (${promise}d)`;
  return `expected at least ${promise} days, as ${by} promises that much history: a shorter lock leaves part of it deletable`;
}

/** A backup's lock as storage reports it: the latest retain-until over its objects; null when none is locked. */
export type BackupLocks = Record<string, { retainUntil: string | null; mode: ObjectLockMode | null }>;

export interface LockedPlan extends RetentionPlan {
  /** Every backup's lock state (retain-until of its latest-locked object), when locks are in use. */
  locks?: BackupLocks;
  /** Expirable by policy but still locked: kept until the lock ends, with the date. */
  heldByLock?: { id: string; retainUntil: string; reason: string }[];
  /** WAL before the cutoff that a lock still holds: kept for now, with the latest retain-until among it. */
  walHeldByLock?: { objects: number; bytes: number; retainUntil: string };
}

/**
 * Moves backups whose lock has not ended out of `expire` (S3 would refuse their deletion, and
 * pgdr never bypasses a lock), and moves the WAL cutoff back to the oldest held good backup's
 * start, so the WAL it needs stays with it.
 */
export function holdLockedBackups(plan: RetentionPlan, entries: CatalogEntry[], locks: BackupLocks, now: Date): LockedPlan {
  const heldByLock: NonNullable<LockedPlan['heldByLock']> = [];
  const expire: RetentionPlan['expire'] = [];
  for (const e of plan.expire) {
    const until = locks[e.id]?.retainUntil;
    if (until && Date.parse(until) > now.getTime()) {
      heldByLock.push({
        id: e.id,
        retainUntil: until,
        reason: `locked until ${until} (${locks[e.id]!.mode ?? 'object lock'}): ${e.reason}, so it is expired once the lock ends`,
      });
    } else expire.push(e);
  }
  const held = new Set(heldByLock.map((h) => h.id));
  const keep = [...plan.keep, ...held].sort();
  let walCutoff = plan.walCutoff;
  for (const e of entries) {
    const start = e.status === 'good' && held.has(e.id) ? e.manifest?.startWalSegment : undefined;
    if (start && walCutoff && start.slice(8) < walCutoff.slice(8)) walCutoff = start;
  }
  return { ...plan, keep, expire, walCutoff, locks, heldByLock };
}
