/**
 * The backup catalog lives with the backups, in S3 (see DESIGN.md): a backup is good only
 * when its manifest.json says so, and the manifest is written last. Workflow-safe.
 */
import type { BackupTablespace } from './tablespaces.js';
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
  /** The source server's server_version_num (150010 is 15.10): a restore needs tools of its major. */
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
  /** The cluster's WAL segment size in bytes (wal_segment_size); absent in manifests written before it was read: 16 MiB. */
  segmentBytes?: number;
  /** Every user tablespace in the backup (absent: none, or a manifest written before they were recorded). */
  tablespaces?: BackupTablespace[];
  /** The objects (and the WAL pushed meanwhile) are age-encrypted; absent: stored as plaintext. */
  encryption?: EncryptionRecord;
}

/** How a backup's objects are encrypted at rest: the format and recipient fingerprints, never a key. */
export interface EncryptionRecord {
  format: 'age';
  /** sha256 (hex) of each age recipient string the objects were encrypted to. */
  recipients: string[];
}

export interface CatalogEntry {
  id: string;
  status: 'good' | 'failed' | 'incomplete';
  manifest: BackupManifest | null;
  /** For incomplete backups: the objects found without a manifest. */
  orphanKeys?: string[];
}

/** WAL segment file name holding an LSN. */
export function walSegmentName(timeline: number, lsn: string, segmentBytes = DEFAULT_SEGMENT_BYTES): string {
  return segmentName(timeline, segmentOfLsn(lsn, segmentBytes), segmentBytes);
}
