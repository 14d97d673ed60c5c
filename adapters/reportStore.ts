/**
 * The one store of every report pgdr keeps, in S3 under `<prefix>/<cluster>/`: restores, drills,
 * rebuilds and switchovers (one object per run, written once, named by an id that sorts by time)
 * and the WAL archive check (only the newest is kept). Also what a rebuild from a backup starts from.
 */
import { BACKUP_MANIFEST_OBJECT, type BackupTablespace } from '../domain/tablespaces.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CatalogEntry, StoredObject } from '../domain/catalog.js';
import type { DrillReport } from '../domain/drill.js';
import { RESTORE_ID_PATTERN, restoreId } from '../domain/naming.js';
import { drillCoverage, proofWindowStart, proofsFrom, type BackupProof, type DrillCoverage } from '../domain/drillCoverage.js';
import { clusterOf } from '../config/lookup.js';
import type { RebuildReport, SwitchoverReport } from '../domain/replication.js';
import type { RestoreReport } from '../domain/restore.js';
import type { WalCheckResult } from '../domain/walCheck.js';
import type { CopyReport } from '../domain/copy.js';
import type { PgdrConfig } from '../config/schema.js';
import { listCatalog } from './catalogStore.js';
import { clusterPrefix, getJson, lastJson, listJson, putJson, putJsonIfAbsent } from './storage.js';

export interface ReportDeps {
  config: PgdrConfig;
  s3: S3Client;
}

export interface BackupToClone {
  id: string;
  method: 'basebackup' | 'pgbackrest';
  compression: string;
  object: StoredObject | null;
  pgbackrestLabel: string | null;
  /** Its user tablespaces, and with the basebackup method pg_basebackup's backup_manifest (absent: none). */
  tablespaces?: BackupTablespace[];
  manifestObject?: StoredObject;
}

/** The newest good backup of a cluster (its manifest says good), or null. */
export async function newestGoodBackup(deps: ReportDeps, cluster: string): Promise<BackupToClone | null> {
  const good = (await listCatalog(deps.s3, deps.config.storage, cluster)).filter((e) => e.status === 'good' && e.manifest);
  const m = good.at(-1)?.manifest;
  if (!m) return null;
  return {
    id: m.id,
    method: m.method,
    compression: m.compression,
    object: m.objects[0] ?? null,
    pgbackrestLabel: m.pgbackrestLabel ?? null,
    ...(m.tablespaces?.length ? { tablespaces: m.tablespaces } : {}),
    ...(m.tablespaces?.length && m.objects.some((o) => o.name === BACKUP_MANIFEST_OBJECT)
      ? { manifestObject: m.objects.find((o) => o.name === BACKUP_MANIFEST_OBJECT)! }
      : {}),
  };
}

/** Every kind of report and what it holds. */
export interface ReportKinds {
  restores: RestoreReport;
  drills: DrillReport;
  rebuilds: RebuildReport;
  switchovers: SwitchoverReport;
  walCheck: WalCheckResult;
  copies: CopyReport;
}

export type ReportKind = keyof ReportKinds;

interface KindRule {
  /** Folder under the cluster's prefix (these keys are what stored reports are read back by: do not change). */
  folder: string;
  /** One object per run, never replaced (a retry finding it is fine); otherwise each write replaces the last. */
  writeOnce: boolean;
  /** The ids a read accepts; anything else is not looked up (it would become part of a key). */
  id?: RegExp;
}

const KINDS: Record<ReportKind, KindRule> = {
  restores: { folder: 'reports/restores/', writeOnce: true, id: RESTORE_ID_PATTERN },
  drills: { folder: 'reports/drills/', writeOnce: true, id: RESTORE_ID_PATTERN },
  rebuilds: { folder: 'reports/rebuilds/', writeOnce: true },
  switchovers: { folder: 'reports/switchovers/', writeOnce: true },
  walCheck: { folder: 'checks/wal-archive/', writeOnce: false },
  copies: { folder: 'reports/copies/', writeOnce: true, id: RESTORE_ID_PATTERN },
};

/** The id of the one WAL check result kept. */
const LATEST = 'latest';

function folderOf(deps: Pick<ReportDeps, 'config'>, kind: ReportKind, cluster: string): string {
  return `${clusterPrefix(deps.config.storage, cluster)}${KINDS[kind].folder}`;
}

/** Where a report of a kind with an id is stored. */
export function reportKey(deps: Pick<ReportDeps, 'config'>, kind: ReportKind, cluster: string, id: string): string {
  return `${folderOf(deps, kind, cluster)}${id}.json`;
}

/** Stores a report (once, for write-once kinds) and returns its key. */
export async function putReport<K extends ReportKind>(
  deps: ReportDeps,
  kind: K,
  cluster: string,
  id: string,
  report: ReportKinds[K],
): Promise<string> {
  const key = reportKey(deps, kind, cluster, id);
  if (KINDS[kind].writeOnce) await putJsonIfAbsent(deps.s3, deps.config.storage.bucket, key, report);
  else await putJson(deps.s3, deps.config.storage.bucket, key, report);
  return key;
}

/** One stored report (undefined: none with that id, or not an id of that kind). */
export async function getReport<K extends ReportKind>(
  deps: ReportDeps,
  kind: K,
  cluster: string,
  id: string,
): Promise<ReportKinds[K] | undefined> {
  const pattern = KINDS[kind].id;
  if (pattern && !pattern.test(id)) return undefined;
  return getJson<ReportKinds[K]>(deps.s3, deps.config.storage.bucket, reportKey(deps, kind, cluster, id));
}

/** Every stored report of a kind for a cluster, oldest first. */
export async function listReports<K extends ReportKind>(deps: ReportDeps, kind: K, cluster: string): Promise<ReportKinds[K][]> {
  return listJson<ReportKinds[K]>(deps.s3, deps.config.storage.bucket, folderOf(deps, kind, cluster));
}

/**
 * The backups the cluster's drills proved inside the proof window. Reads only the reports of
 * drills started at most a day before the window (a drill's id is its start time), so the cost
 * follows the drills in the window, not the whole history.
 */
export async function drillProofs(deps: ReportDeps, cluster: string, now: Date, proofWindowDays: number): Promise<BackupProof[]> {
  const from = restoreId(new Date(proofWindowStart(now, proofWindowDays).getTime() - 86_400_000));
  const folder = folderOf(deps, 'drills', cluster);
  return proofsFrom(await listJson<DrillReport>(deps.s3, deps.config.storage.bucket, folder, `${folder}${from}`));
}

/**
 * Drill coverage of the cluster's good catalogued backups, with the config's proof window
 * (`catalog`: the cluster's catalog when the caller has already listed it).
 */
export async function clusterDrillCoverage(
  deps: ReportDeps,
  cluster: string,
  now = new Date(),
  catalog?: Promise<CatalogEntry[]>,
): Promise<DrillCoverage> {
  const days = clusterOf(deps.config, cluster).drill.proofWindowDays;
  const [entries, proofs] = await Promise.all([
    catalog ?? listCatalog(deps.s3, deps.config.storage, cluster),
    drillProofs(deps, cluster, now, days),
  ]);
  return drillCoverage(
    entries.filter((e) => e.status === 'good').map((e) => e.id),
    proofs,
    now,
    days,
  );
}

/** The newest report of a kind (one object read, for /metrics). */
export async function lastReport<K extends ReportKind>(deps: ReportDeps, kind: K, cluster: string): Promise<ReportKinds[K] | undefined> {
  return lastJson<ReportKinds[K]>(deps.s3, deps.config.storage.bucket, folderOf(deps, kind, cluster));
}

const idOf = (workflowId: string) => workflowId.split('/').at(-1)!;

/** The activity bodies that store each kind: the id comes from the report. */
export async function storeRestoreReport(deps: ReportDeps, report: RestoreReport): Promise<string> {
  return putReport(deps, 'restores', report.cluster, report.id, report);
}

export async function storeDrillReport(deps: ReportDeps, report: DrillReport): Promise<void> {
  await putReport(deps, 'drills', report.cluster, report.id, report);
}

export async function storeRebuildReport(deps: ReportDeps, report: RebuildReport): Promise<void> {
  await putReport(deps, 'rebuilds', report.cluster, idOf(report.workflowId), report);
}

export async function storeSwitchoverReport(deps: ReportDeps, report: SwitchoverReport): Promise<void> {
  await putReport(deps, 'switchovers', report.cluster, idOf(report.workflowId), report);
}

/**
 * Stores a check result as the latest (only the newest is kept: a check every 5 minutes would
 * otherwise pile up; each run's result also stays in its workflow's history in Temporal).
 */
export async function storeWalCheck(deps: ReportDeps, result: WalCheckResult): Promise<void> {
  await putReport(deps, 'walCheck', result.cluster, LATEST, result);
}

/** The newest stored check result, if any. */
export async function readWalCheck(deps: ReportDeps, cluster: string): Promise<WalCheckResult | undefined> {
  return getReport(deps, 'walCheck', cluster, LATEST);
}
