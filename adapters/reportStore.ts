/** Control: what a rebuild from a backup starts from, and the reports of rebuilds and switchovers in S3. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { StoredObject } from '../domain/catalog.js';
import type { RebuildReport, SwitchoverReport } from '../domain/replication.js';
import type { PgdrConfig } from '../config/schema.js';
import { listCatalog } from './catalogStore.js';
import { clusterPrefix, listJson, putJsonIfAbsent } from './storage.js';

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
}

/** The newest good backup of a cluster (its manifest says good), or null. */
export async function newestGoodBackup(deps: ReportDeps, cluster: string): Promise<BackupToClone | null> {
  const good = (await listCatalog(deps.s3, deps.config.storage, cluster)).filter((e) => e.status === 'good' && e.manifest);
  const m = good.at(-1)?.manifest;
  if (!m) return null;
  return { id: m.id, method: m.method, compression: m.compression, object: m.objects[0] ?? null, pgbackrestLabel: m.pgbackrestLabel ?? null };
}

const folder = (deps: ReportDeps, cluster: string, kind: 'rebuilds' | 'switchovers') => `${clusterPrefix(deps.config.storage, cluster)}reports/${kind}/`;
const idOf = (workflowId: string) => workflowId.split('/').at(-1)!;

export async function storeRebuildReport(deps: ReportDeps, report: RebuildReport): Promise<void> {
  await putJsonIfAbsent(deps.s3, deps.config.storage.bucket, `${folder(deps, report.cluster, 'rebuilds')}${idOf(report.workflowId)}.json`, report);
}

export async function storeSwitchoverReport(deps: ReportDeps, report: SwitchoverReport): Promise<void> {
  await putJsonIfAbsent(deps.s3, deps.config.storage.bucket, `${folder(deps, report.cluster, 'switchovers')}${idOf(report.workflowId)}.json`, report);
}

/** Stored rebuild and switchover reports of a cluster, oldest first. */
export async function listReplicationReports(deps: ReportDeps, cluster: string): Promise<{ rebuilds: RebuildReport[]; switchovers: SwitchoverReport[] }> {
  const [rebuilds, switchovers] = await Promise.all([
    listJson<RebuildReport>(deps.s3, deps.config.storage.bucket, folder(deps, cluster, 'rebuilds')),
    listJson<SwitchoverReport>(deps.s3, deps.config.storage.bucket, folder(deps, cluster, 'switchovers')),
  ]);
  return { rebuilds, switchovers };
}
