/**
 * Workflow inputs built from the config: names, queues and policies, never secrets. Used by
 * the API, the schedule reconciler, tests and the benchmark alike.
 */
import { nodeTaskQueue } from '../common/naming.js';
import type { BackupType } from '../common/catalog.js';
import type { RetentionPolicy } from '../common/retention.js';
import type { BackupInput } from '../workflows/backup.js';
import { clusterOf } from './lookup.js';
import type { PgdrConfig } from './schema.js';

/** Node names with their agents' task queues, as workflows need them. */
export function nodeQueues(config: PgdrConfig, cluster: string): { name: string; taskQueue: string }[] {
  return Object.entries(clusterOf(config, cluster).nodes).map(([name, n]) => ({ name, taskQueue: nodeTaskQueue(cluster, name, n.agentQueue) }));
}

/** The backup workflow's input for a cluster, from config (also used by schedules). */
export function backupInput(config: PgdrConfig, cluster: string, type: BackupType, trigger: string): BackupInput {
  const c = clusterOf(config, cluster);
  return {
    cluster,
    type,
    method: c.method,
    nodes: nodeQueues(config, cluster),
    from: c.backup.from,
    verify: c.backup.verify,
    retention: retentionPolicy(config, cluster),
    trigger,
  };
}

/** A cluster's retention as workflows take it (no undefined fields in history). */
export function retentionPolicy(config: PgdrConfig, cluster: string): RetentionPolicy {
  const r = clusterOf(config, cluster).retention;
  return { fullCount: r.fullCount, ...(r.recoveryWindowDays !== undefined ? { recoveryWindowDays: r.recoveryWindowDays } : {}) };
}
