/**
 * The offsite copy (storage.secondary): what a copy run must bring over, and what it reports.
 * Workflow-safe.
 */
import type { BackupManifest, BackupType } from './catalog.js';
import { segmentNumber } from './wal.js';

/** The copy record a backup's folder on the secondary holds, written before its manifest: the stored bytes' sha256 of each object. */
export interface CopyRecord {
  backupId: string;
  copiedAt: string;
  workflowId: string;
  objects: { name: string; bytes: number; storedSha256: string }[];
}

export interface CopyPlan {
  /** Good backups on the primary without a manifest on the secondary, oldest first. */
  backups: string[];
  /** The oldest WAL segment any good backup needs: every WAL and .history object from it on is copied. */
  walFrom: string | null;
  /** Good backups already on the secondary. */
  onSecondary: string[];
}

/** What to copy: each good primary backup the secondary lacks, and the WAL from the oldest good backup's start. */
export function copyPlan(primaryGood: Pick<BackupManifest, 'id' | 'startWalSegment'>[], onSecondary: ReadonlySet<string>): CopyPlan {
  const sorted = [...primaryGood].sort((a, b) => a.id.localeCompare(b.id));
  const starts = sorted.map((m) => m.startWalSegment).sort();
  return {
    backups: sorted.filter((m) => !onSecondary.has(m.id)).map((m) => m.id),
    walFrom: starts[0] ?? null,
    onSecondary: sorted.filter((m) => onSecondary.has(m.id)).map((m) => m.id),
  };
}

/**
 * pgbackrest method: pgBackRest cannot copy a set between repositories, so the secondary gets a
 * backup of its own after the newest good one when it holds none for it (`take`). Older good
 * backups without one cannot be copied any more (`uncopiable`): a new backup covers what follows.
 */
export function pgbackrestCopyPlan(
  primaryGood: Pick<BackupManifest, 'id' | 'type'>[],
  onSecondary: ReadonlySet<string>,
): CopyPlan & { take: { id: string; type: BackupType } | null; uncopiable: string[] } {
  const sorted = [...primaryGood].sort((a, b) => a.id.localeCompare(b.id));
  const newest = sorted.at(-1);
  const take = newest && !onSecondary.has(newest.id) ? { id: newest.id, type: newest.type } : null;
  return {
    backups: take ? [take.id] : [],
    walFrom: null,
    onSecondary: sorted.filter((m) => onSecondary.has(m.id)).map((m) => m.id),
    take,
    uncopiable: sorted.filter((m) => m !== newest && !onSecondary.has(m.id)).map((m) => m.id),
  };
}

/** True for a WAL-folder object name the copy brings over: a .history file, or a segment (or .backup/.partial) at or after walFrom. */
export function walToCopy(name: string, walFrom: string): boolean {
  if (/^[0-9A-F]{8}\.history/.test(name)) return true;
  return /^[0-9A-F]{24}/.test(name) && name.slice(0, 24) >= walFrom;
}

export interface CopyReport {
  id: string;
  cluster: string;
  workflowId: string;
  trigger: string;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  /** Where the copy went (no credentials). */
  secondary: { endpoint: string; bucket: string; prefix: string };
  /** Backups copied by this run, oldest first. */
  backupsCopied: string[];
  /** Good primary backups that hold a verified copy on the secondary after this run. */
  backupsOnSecondary: string[];
  /** Good primary backups still without a copy (gone from the primary meanwhile, with a reason). */
  backupsSkipped: { id: string; reason: string }[];
  wal: { from: string | null; copied: number; bytes: number; newestOnSecondary: string | null };
  /** Bytes copied (base objects and WAL) and their rate. */
  bytes: number;
  mbPerSecond: number;
  /** With verify: every object on the secondary re-read and checked. */
  /**
   * With verify: every object on the secondary re-read and checked. pgbackrest method: by
   * `pgbackrest verify` (files and WAL segments it checked; it reports no byte count).
   */
  verified: { objects: number; bytes: number | null; tool?: 'pgbackrest verify' } | null;
}

export interface CopyLag {
  /** Good primary backups without a checked copy on the secondary (as of the newest copy run). */
  backupsMissing: number;
  /** Age of the oldest of them (its stop time to now), 0 when none is missing. */
  backupLagSeconds: number;
  /** Segments archived on the primary (at the newest WAL check) past the newest one on the secondary; null when not comparable. */
  walSegmentsBehind: number | null;
}

/** How far the secondary is behind: from the primary's catalog, the newest copy report and the newest WAL check. */
export function copyLag(
  good: Pick<BackupManifest, 'id' | 'stopTime' | 'segmentBytes'>[],
  last: { backupsOnSecondary: readonly string[]; wal?: Pick<CopyReport['wal'], 'newestOnSecondary'> } | undefined,
  primaryLastSegment: string | null,
  now: Date,
): CopyLag {
  const copied = new Set(last?.backupsOnSecondary ?? []);
  const missing = good.filter((m) => !copied.has(m.id)).sort((a, b) => a.stopTime.localeCompare(b.stopTime));
  const oldest = missing[0];
  const secondaryLast = last?.wal?.newestOnSecondary ?? null;
  const segmentBytes = good.at(-1)?.segmentBytes;
  let walSegmentsBehind: number | null = null;
  if (primaryLastSegment && secondaryLast && primaryLastSegment.slice(0, 8) === secondaryLast.slice(0, 8))
    walSegmentsBehind = Math.max(0, segmentNumber(primaryLastSegment, segmentBytes) - segmentNumber(secondaryLast, segmentBytes));
  return {
    backupsMissing: missing.length,
    backupLagSeconds: oldest ? Math.max(0, (now.getTime() - Date.parse(oldest.stopTime)) / 1000) : 0,
    walSegmentsBehind,
  };
}
