/**
 * The backup catalog lives with the backups, in S3 (see DESIGN.md): a backup is good only
 * when its manifest.json says so, and the manifest is written last. Workflow-safe.
 */
import { DEFAULT_SEGMENT_BYTES, segmentName, segmentOfLsn } from './wal.js';

export type BackupType = 'full' | 'diff' | 'incr';
export type BackupMethod = 'basebackup' | 'pgbackrest';

export interface StoredObject {
  /** Key relative to the backup's folder. */
  name: string;
  bytes: number;
  sha256: string;
}

export interface BackupManifest {
  formatVersion: 1;
  id: string;
  cluster: string;
  method: BackupMethod;
  type: BackupType;
  /** The backup a diff/incr builds on; null for a full. */
  parent: string | null;
  status: 'good' | 'failed';
  systemIdentifier: string;
  pgVersion: number;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  /** WAL segment holding startLsn: WAL before it is not needed by this backup. */
  startWalSegment: string;
  startTime: string;
  stopTime: string;
  sourceNode: string;
  compression: string;
  /** Bytes stored (compressed). */
  bytes: number;
  objects: StoredObject[];
  verification: { tool: string; ok: boolean; seconds: number; detail: string } | null;
  workflowId: string;
  createdAt: string;
  /** method pgbackrest: the backup set's label in the pgBackRest repo. */
  pgbackrestLabel?: string;
}

export interface CatalogEntry {
  id: string;
  status: 'good' | 'failed' | 'incomplete';
  manifest: BackupManifest | null;
  /** For incomplete backups: the objects found without a manifest. */
  orphanKeys?: string[];
}

/** Backup ids sort by time: 20261120T224400123Z-F (F/D/I for full/diff/incr). */
export function backupId(at: Date, type: BackupType): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${stamp}-${type === 'full' ? 'F' : type === 'diff' ? 'D' : 'I'}`;
}

const BACKUP_ID = /^\d{8}T\d{9}Z-[FDI]$/;

/**
 * Refuses anything but a well-formed backup id before it becomes part of a path or key: an
 * id is joined into scratch directories that are removed recursively.
 */
export function assertBackupId(id: string): string {
  if (!BACKUP_ID.test(id)) throw new RangeError(`invalid backup id "${id}": expected the form 20261120T224745224Z-F`);
  return id;
}

/** WAL segment file name holding an LSN. */
export function walSegmentName(timeline: number, lsn: string, segmentBytes = DEFAULT_SEGMENT_BYTES): string {
  return segmentName(timeline, segmentOfLsn(lsn, segmentBytes), segmentBytes);
}
