/**
 * Prometheus metrics, derived from what pgdr keeps in S3: the catalog and the newest WAL
 * archive check of each cluster. Needs the token like every route but /healthz (Prometheus
 * sends it with `authorization: { credentials_file: ... }`).
 */
import { z } from 'zod';
import { catalogIds, listCatalog } from '../../adapters/catalogStore.js';
import { secondaryOf } from '../secondary.js';
import { clusterDrillCoverage, lastReport, readWalCheck } from '../../adapters/reportStore.js';
import { commonResponses, route } from '../routeTable.js';
import type { ApiDeps } from '../deps.js';
import { copyLag } from '../../domain/copy.js';

interface Sample {
  labels: Record<string, string | number>;
  value: number;
}

const HELP: Record<string, [type: 'gauge' | 'counter', help: string]> = {
  pgdr_wal_check_healthy: ['gauge', '1 when the newest WAL archive check found no problem, else 0'],
  pgdr_wal_check_timestamp_seconds: ['gauge', 'when the newest WAL archive check ran (unix seconds)'],
  pgdr_wal_last_archived_age_seconds: ['gauge', 'age of the last archived WAL file at the newest check'],
  pgdr_wal_archive_failures_total: ['counter', 'pg_stat_archiver.failed_count on the primary at the newest check'],
  pgdr_wal_missing_segments: [
    'gauge',
    'WAL segments missing from the archive between the oldest kept backup and the newest archived segment',
  ],
  pgdr_wal_archive_lag_bytes: ['gauge', 'WAL written but not yet archived, in bytes (the achieved RPO in bytes)'],
  pgdr_wal_archive_lag_seconds: ['gauge', 'age of the oldest unarchived WAL, at most (the achieved RPO in seconds)'],
  pgdr_recovery_window_start_timestamp_seconds: ['gauge', 'earliest recoverable point per timeline (unix seconds)'],
  pgdr_recovery_window_end_timestamp_seconds: ['gauge', 'latest recoverable point (last archived commit) per timeline (unix seconds)'],
  pgdr_backups: ['gauge', 'backups in the catalog by status'],
  pgdr_backup_last_good_timestamp_seconds: ['gauge', 'stop time of the newest good backup (unix seconds)'],
  pgdr_drill_last_success: ['gauge', '1 when the newest restore drill passed every check, else 0'],
  pgdr_drill_last_timestamp_seconds: ['gauge', 'when the newest restore drill finished (unix seconds)'],
  pgdr_drill_last_rto_seconds: ['gauge', 'RTO the newest restore drill achieved: start to a checked, consistent instance'],
  pgdr_drill_last_rpo_seconds: ['gauge', 'RPO the newest restore drill achieved: its run against the newest commit it recovered'],
  pgdr_backups_unproven: ['gauge', 'good backups no restore drill has proven within drill.proofWindowDays'],
  pgdr_backup_proof_coverage_ratio: ['gauge', 'share of good backups a restore drill proved within drill.proofWindowDays (0 to 1)'],
  pgdr_copy_last_timestamp_seconds: ['gauge', 'when the newest copy to the secondary repository finished (unix seconds)'],
  pgdr_copy_backups_missing: ['gauge', 'good backups without a checked copy on the secondary repository, as of the newest copy'],
  pgdr_copy_secondary_reachable: [
    'gauge',
    "pgbackrest method: 1 when the secondary (repo2) answered the scrape's listing of its backups, else 0 (the lag is then left out)",
  ],
  pgdr_copy_backup_lag_seconds: ['gauge', 'age of the oldest good backup not yet on the secondary repository (0: none missing)'],
  pgdr_copy_wal_segments_behind: [
    'gauge',
    'WAL segments archived on the primary (newest WAL check) past the newest one copied to the secondary repository',
  ],
};

/** Drill coverage is of the repository drills read by default: the primary (a drill from the secondary stores its report there). */
const REPOSITORY = 'primary';

function render(metrics: Map<string, Sample[]>): string {
  const lines: string[] = [];
  for (const [name, samples] of metrics) {
    const [type, help] = HELP[name]!;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const s of samples) {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${String(v).replace(/["\\\n]/g, '\\$&')}"`)
        .join(',');
      lines.push(`${name}{${labels}} ${Number.isFinite(s.value) ? s.value : 'NaN'}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);

export async function collectMetrics(deps: ApiDeps, now = new Date()): Promise<string> {
  const m = new Map<string, Sample[]>(Object.keys(HELP).map((k) => [k, []]));
  const add = (name: string, labels: Record<string, string | number>, value: number | undefined) => {
    if (value !== undefined) m.get(name)!.push({ labels, value });
  };
  for (const cluster of Object.keys(deps.config.clusters)) {
    const listed = listCatalog(deps.s3, deps.config.storage, cluster);
    const copying = !!deps.config.storage.secondary;
    // pgbackrest: each backup is followed by one into repo2, not by a copy run; its catalog says what it holds.
    const far = copying && deps.config.clusters[cluster]!.method === 'pgbackrest' ? secondaryOf(deps) : undefined;
    const [catalog, check, drill, coverage, lastCopy] = await Promise.all([
      listed,
      readWalCheck(deps, cluster),
      lastReport(deps, 'drills', cluster),
      clusterDrillCoverage(deps, cluster, now, listed),
      copying ? lastReport(deps, 'copies', cluster) : undefined,
    ]);
    if (copying) {
      const good = catalog.flatMap((e) => (e.status === 'good' && e.manifest ? [e.manifest] : []));
      // pgbackrest: a primary backup is covered once repo2 holds it or a newer one (older ones
      // cannot be copied there any more). An unreachable secondary leaves the lag unknown, not the scrape failed.
      const onFar = far ? await catalogIds(far.s3, far.config.storage, cluster).catch(() => null) : undefined;
      if (onFar !== undefined) add('pgdr_copy_secondary_reachable', { cluster }, onFar === null ? 0 : 1);
      const newestFar = onFar ? [...onFar].sort().at(-1) : undefined;
      const held =
        onFar === undefined
          ? lastCopy
          : onFar === null
            ? null
            : {
                backupsOnSecondary: good.filter((m) => newestFar !== undefined && m.id <= newestFar).map((m) => m.id),
                ...(lastCopy ? { wal: lastCopy.wal } : {}),
              };
      if (held !== null) {
        const lag = copyLag(good, held, check?.continuity?.lastSegment ?? null, now);
        add('pgdr_copy_backups_missing', { cluster }, lag.backupsMissing);
        add('pgdr_copy_backup_lag_seconds', { cluster }, lag.backupLagSeconds);
        add('pgdr_copy_wal_segments_behind', { cluster }, lag.walSegmentsBehind ?? undefined);
      }
      add('pgdr_copy_last_timestamp_seconds', { cluster }, seconds(lastCopy?.finishedAt));
    }
    add('pgdr_backups_unproven', { cluster, repository: REPOSITORY }, coverage.unproven.length);
    add('pgdr_backup_proof_coverage_ratio', { cluster, repository: REPOSITORY }, coverage.ratio ?? undefined);
    if (drill) {
      add('pgdr_drill_last_success', { cluster }, drill.ok ? 1 : 0);
      add('pgdr_drill_last_timestamp_seconds', { cluster }, seconds(drill.finishedAt));
      add('pgdr_drill_last_rto_seconds', { cluster }, drill.rtoSeconds ?? undefined);
      add('pgdr_drill_last_rpo_seconds', { cluster }, drill.rpoSeconds ?? undefined);
    }
    for (const status of ['good', 'failed', 'incomplete'] as const)
      add('pgdr_backups', { cluster, status }, catalog.filter((e) => e.status === status).length);
    const lastGood = catalog.filter((e) => e.status === 'good').at(-1);
    add('pgdr_backup_last_good_timestamp_seconds', { cluster }, seconds(lastGood?.manifest?.stopTime));
    if (!check) continue;
    add('pgdr_wal_check_healthy', { cluster }, check.healthy ? 1 : 0);
    add('pgdr_wal_check_timestamp_seconds', { cluster }, seconds(check.checkedAt));
    const lastArchived = seconds(check.archiver?.lastArchivedAt);
    add(
      'pgdr_wal_last_archived_age_seconds',
      { cluster },
      lastArchived === undefined ? undefined : Math.max(0, now.getTime() / 1000 - lastArchived),
    );
    add('pgdr_wal_archive_failures_total', { cluster }, check.archiver?.failedCount);
    add('pgdr_wal_missing_segments', { cluster }, check.continuity?.missingCount);
    add('pgdr_wal_archive_lag_bytes', { cluster }, check.lag?.bytes);
    add('pgdr_wal_archive_lag_seconds', { cluster }, check.lag?.seconds);
    for (const w of check.window) {
      add('pgdr_recovery_window_start_timestamp_seconds', { cluster, timeline: w.timeline }, seconds(w.earliest?.time));
      add('pgdr_recovery_window_end_timestamp_seconds', { cluster, timeline: w.timeline }, seconds(w.latest?.time));
    }
  }
  return render(m);
}

export const metricsRoute = route({
  method: 'GET',
  path: '/metrics',
  operationId: 'getMetrics',
  summary: 'Prometheus metrics: WAL archive health, lag and gaps, recoverable window, backups, the last restore drill',
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'Prometheus text exposition format', body: z.string(), contentType: 'text/plain; version=0.0.4; charset=utf-8' },
  },
  async handler({ deps }) {
    return { status: 200, body: await collectMetrics(deps), contentType: 'text/plain; version=0.0.4; charset=utf-8' };
  },
});
