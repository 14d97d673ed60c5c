/**
 * Temporal Schedules from pgdr.yaml, reconciled at worker start: created, updated and deleted
 * to match the config, for the clusters the config names. Overlap SKIP, explicit catch-up
 * window. An operator's pause (and its note) survives reconciliation: config changes what
 * runs and when, not whether an operator stopped it.
 *
 * A schedule of a cluster that is no longer in the config is left alone and reported: a typo
 * in a cluster name must not silently stop another cluster's backups.
 */
import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import { PgdrCluster, PgdrProcedure, scheduleCluster, scheduleId, scheduledWorkflowId } from '../domain/naming.js';
import type { PgdrConfig } from '../config/schema.js';
import type { Workflow } from '@temporalio/common';
import type { BackupType } from '../domain/catalog.js';
import { backupInput, clusterSchedules, copyInput, drillInput, walCheckInput } from './inputs.js';
import { summaryTarget, workflowSummary } from '../domain/summaries.js';

export interface DesiredSchedule {
  scheduleId: string;
  cluster: string;
  name: string;
  cron: string;
  timezone: string;
  catchupWindow: string;
  action: ScheduleOptionsStartWorkflowAction<Workflow>;
  fingerprint: string;
}

export function desiredSchedules(config: PgdrConfig, clusters = Object.keys(config.clusters)): DesiredSchedule[] {
  return clusters.flatMap((cluster) => {
    const c = config.clusters[cluster]!;
    return clusterSchedules(config, cluster).map((s) => {
      const trigger = `schedule:${s.name}`;
      const args =
        s.procedure === 'backup'
          ? [backupInput(config, cluster, s.type as BackupType, trigger)]
          : s.procedure === 'restoreDrill'
            ? [drillInput(config, cluster, trigger)]
            : s.procedure === 'copyBackup'
              ? [copyInput(config, cluster, false, trigger)]
              : [walCheckInput(config, cluster, trigger)];
      const id = scheduleId(cluster, s.name);
      // What the Temporal UI shows of each run; in the fingerprint, so older schedules get it too.
      const target = summaryTarget(s.procedure, args[0]);
      const summary = workflowSummary({ workflow: s.procedure, cluster, target, startedBy: `schedule ${id}` });
      const queue = config.temporal.taskQueue;
      const fingerprint = createHash('sha256')
        .update(JSON.stringify({ cron: s.cron, tz: c.backup.timezone, catchup: c.backup.catchupWindow, args, queue, summary }))
        .digest('hex')
        .slice(0, 16);
      return {
        scheduleId: id,
        cluster,
        name: s.name,
        cron: s.cron,
        timezone: c.backup.timezone,
        catchupWindow: c.backup.catchupWindow,
        fingerprint,
        action: {
          type: 'startWorkflow',
          workflowType: s.procedure,
          workflowId: scheduledWorkflowId(s.procedure, cluster, s.name),
          taskQueue: config.temporal.taskQueue,
          args,
          memo: { pgdrFingerprint: fingerprint },
          typedSearchAttributes: [
            { key: PgdrCluster, value: cluster },
            { key: PgdrProcedure, value: s.procedure },
          ],
          ...summary,
        } as ScheduleOptionsStartWorkflowAction<Workflow>,
      };
    });
  });
}

export interface ReconcileReport {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: string[];
  /** pgdr schedules of clusters not in this config, left alone. */
  orphans: string[];
}

export async function reconcileSchedules(
  client: Client,
  config: PgdrConfig,
  clusters = Object.keys(config.clusters),
): Promise<ReconcileReport> {
  const report: ReconcileReport = { created: [], updated: [], deleted: [], unchanged: [], orphans: [] };
  const desired = desiredSchedules(config, clusters);
  for (const d of desired) {
    const handle = client.schedule.getHandle(d.scheduleId);
    const spec = { cronExpressions: [d.cron], timezone: d.timezone };
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: d.catchupWindow };
    let current;
    try {
      current = await handle.describe();
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    if (!current) {
      await client.schedule.create({
        scheduleId: d.scheduleId,
        spec,
        action: d.action,
        policies,
        memo: { pgdrCluster: d.cluster, pgdrSchedule: d.name },
        state: { note: 'created by pgdr from pgdr.yaml' },
      });
      report.created.push(d.scheduleId);
    } else if ((current.action as { memo?: Record<string, unknown> }).memo?.pgdrFingerprint !== d.fingerprint) {
      await handle.update((prev) => ({ ...prev, spec, action: d.action, policies: { ...prev.policies, ...policies } }));
      report.updated.push(d.scheduleId);
    } else {
      report.unchanged.push(d.scheduleId);
    }
  }
  // Deletions: pgdr schedules of the clusters in scope that the config no longer has.
  const wanted = new Set(desired.map((d) => d.scheduleId));
  for await (const s of client.schedule.list()) {
    const cluster = scheduleCluster(s.scheduleId);
    if (cluster === null) continue;
    if (!config.clusters[cluster]) report.orphans.push(s.scheduleId);
    else if (clusters.includes(cluster) && !wanted.has(s.scheduleId)) {
      await client.schedule
        .getHandle(s.scheduleId)
        .delete()
        .catch((err) => {
          if (!(err instanceof ScheduleNotFoundError)) throw err;
        });
      report.deleted.push(s.scheduleId);
    }
  }
  return report;
}
