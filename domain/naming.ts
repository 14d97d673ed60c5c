/**
 * Every name pgdr derives, owned once: the cluster/node name pattern, task queues, workflow and
 * schedule ids, search attributes, backup and restore ids with their patterns, the set-aside
 * directory and WAL history file names. Workflow-safe (no Node imports).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

const NAME = '[a-z][a-z0-9_-]{0,39}';

/** A cluster, node or schedule name in pgdr.yaml (it becomes part of queues, ids, keys and paths). */
export const NAME_PATTERN = new RegExp(`^${NAME}$`);

/** NAME_PATTERN in words, for error messages. */
export const NAME_FORM = '1-40 chars, lowercase letters, digits, "-" or "_", starting with a letter';

/** Task queue of the agent on a cluster's node, unless the config names another. */
export function nodeTaskQueue(cluster: string, node: string, override?: string): string {
  return override ?? `pgdr-node-${cluster}-${node}`;
}

/** Procedures pgdr runs; each is one workflow and one value of the PgdrProcedure attribute. */
export type Procedure =
  | 'clusterStatus'
  | 'backup'
  | 'expireBackups'
  | 'walArchiveCheck'
  | 'enableArchiving'
  | 'restorePreflight'
  | 'pitrRestore'
  | 'restoreDrill'
  | 'replicaRebuild'
  | 'switchover'
  | 'restoredCopies'
  | 'dropRestore'
  | 'copyBackup';

/**
 * Procedures that change state and therefore take the cluster lock. dropRestore does not: it
 * touches only a copy a finished restore made, never a node's data directory (it refuses those).
 */
export const MUTATING: Procedure[] = ['backup', 'expireBackups', 'enableArchiving', 'replicaRebuild', 'switchover'];

export function lockWorkflowId(cluster: string): string {
  return `lock/${cluster}`;
}

export function scheduleId(cluster: string, name: string): string {
  return `pgdr/${cluster}/${name}`;
}

/** The cluster of a schedule id scheduleId made; null for a schedule that is not pgdr's. */
export function scheduleCluster(id: string): string | null {
  return id.startsWith('pgdr/') ? id.split('/')[1]! : null;
}

/** The id a schedule starts its workflows with (Temporal appends the run's time). */
export function scheduledWorkflowId(procedure: Procedure, cluster: string, name: string): string {
  return `${procedure}/${cluster}/schedule-${name}`;
}

/** The id of a drill's restore child: one per drill and backup index. */
export function drillRestoreWorkflowId(cluster: string, drillId: string, index: number): string {
  return `pitrRestore/${cluster}/drill-${drillId}-${index}`;
}

/** Ids drillRestoreWorkflowId makes. */
export const DRILL_RESTORE_WORKFLOW_ID_PATTERN = /^pitrRestore\/[^/]+\/drill-/;

/** Hex characters of the random suffix of a workflow id. */
export const WORKFLOW_ID_NONCE_LENGTH = 6;

/**
 * Readable, sortable, unique workflow ids: <procedure>/<cluster>/<UTC timestamp>-<nonce>. The
 * nonce (WORKFLOW_ID_NONCE_LENGTH lowercase hex characters, random) keeps two starts in the
 * same millisecond apart; the caller supplies it because the API and workflows draw randomness
 * differently (crypto vs the sandbox's deterministic uuid4).
 */
export function workflowId(procedure: Procedure, cluster: string, at: Date, nonce: string): string {
  if (!new RegExp(`^[0-9a-f]{${WORKFLOW_ID_NONCE_LENGTH}}$`).test(nonce)) {
    throw new TypeError(`workflow id nonce "${nonce}" is not ${WORKFLOW_ID_NONCE_LENGTH} lowercase hex characters`);
  }
  return `${legacyWorkflowId(procedure, cluster, at)}-${nonce}`;
}

/** The id form before the nonce: still what workflows started by older code replay with. */
export function legacyWorkflowId(procedure: Procedure, cluster: string, at: Date): string {
  return `${procedure}/${cluster}/${at.toISOString().replace(/[:.]/g, '-')}`;
}

/**
 * Any pgdr workflow id: <procedure>/<cluster>/<rest>, where rest is a timestamp with or without
 * the nonce, schedule-<name>-<time> for scheduled runs, or a name tests and benches chose.
 */
export const WORKFLOW_ID_PATTERN = new RegExp(`^[A-Za-z]+\\/${NAME}\\/[\\w.:-]+$`);

export const PgdrCluster = defineSearchAttributeKey('PgdrCluster', SearchAttributeType.KEYWORD);
export const PgdrProcedure = defineSearchAttributeKey('PgdrProcedure', SearchAttributeType.KEYWORD);

/** Link to a run in the Temporal Web UI. */
export function temporalUiUrl(uiBase: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}

const STAMP = String.raw`\d{8}T\d{9}Z`;

/** A UTC time as an id: 20261120T224745224Z (sorts by time; restores, drills and rebuilds use it). */
export function timestampId(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace('.', '');
}

/** Restore id from the workflow's start time: sortable, unique per start. Drills and rebuilds use the same form. */
export function restoreId(at: Date): string {
  return timestampId(at);
}

/** A restore, drill or rebuild id (restoreId). */
export const RESTORE_ID_PATTERN = new RegExp(`^${STAMP}$`);
export const RESTORE_ID_EXAMPLE = '20261120T224745224Z';

/** Backup ids sort by time: 20261120T224400123Z-F (F/D/I for full/diff/incr). */
export function backupId(at: Date, type: 'full' | 'diff' | 'incr'): string {
  return `${timestampId(at)}-${type === 'full' ? 'F' : type === 'diff' ? 'D' : 'I'}`;
}

export const BACKUP_ID_PATTERN = new RegExp(`^${STAMP}-[FDI]$`);
export const BACKUP_ID_EXAMPLE = '20261120T224745224Z-F';

/**
 * Refuses anything but a well-formed backup id before it becomes part of a path or key: an
 * id is joined into scratch directories that are removed recursively.
 */
export function assertBackupId(id: string): string {
  if (!BACKUP_ID_PATTERN.test(id)) throw new RangeError(`invalid backup id "${id}": expected the form ${BACKUP_ID_EXAMPLE}`);
  return id;
}

/** What setAsideName puts between a data directory and the id. */
export const SET_ASIDE_INFIX = '.pgdr-old-';

/** Where a data directory is renamed aside until its replacement is proven: `<dir>.pgdr-old-<id>`. */
export function setAsideName(dataDir: string, id: string): string {
  return `${dataDir.replace(/\/+$/, '')}${SET_ASIDE_INFIX}${id}`;
}

/** A path setAsideName made, for a timestamp id (restores and rebuilds). */
export const SET_ASIDE_PATTERN = new RegExp(`${SET_ASIDE_INFIX.replace('.', '\\.')}${STAMP}$`);

/** Where a restore goes when the request names no directory: `<restore.dir>/<cluster>-<restoreId>`. */
export function restoreDataDir(restoreDir: string, cluster: string, id: string): string {
  return `${restoreDir.replace(/\/+$/, '')}/${cluster}-${id}`;
}

/** A drill's scratch copy of one backup: its data directory and its private socket directory. */
export function drillDirs(restoreDir: string, cluster: string, drillId: string, index: number): { dataDir: string; socketDir: string } {
  return {
    dataDir: `${restoreDir.replace(/\/+$/, '')}/${cluster}-drill-${drillId}-${index}`,
    socketDir: `/tmp/pgdr-drill-${drillId}-${index}`,
  };
}

/** Where a dropped copy goes for the moment between stop and removal (a retry finishes it). */
export function droppingDir(dataDir: string, restoreId: string): string {
  return `${dataDir.replace(/\/+$/, '')}.pgdr-drop-${restoreId}`;
}

/** A failed attempt's server log kept beside its data directory: `<dir>.pgdr-failed-<time>-<suffix>.log`. */
export function failedLogName(beside: string, at: Date, suffix: string): string {
  return `${beside.replace(/\/+$/, '')}.pgdr-failed-${timestampId(at)}-${suffix}.log`;
}

/** A timeline's history file in pg_wal and the archive: TTTTTTTT.history. */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** FNV-1a (32 bit) of a string, hex: a short stable key, not a security property. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/**
 * The lock that lets one restore at a time write into a directory: keyed by the host and the
 * directory's canonical path (a long path keeps a readable head and a hash of the whole).
 */
export function destinationLockId(host: string, canonicalDir: string): string {
  const key = `${host}:${canonicalDir}`;
  return key.length <= 400 ? `restore-dest/${key}` : `restore-dest/${key.slice(0, 360)}~${fnv1a(key)}`;
}
