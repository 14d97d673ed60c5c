/**
 * Starting procedures from the API: a deterministic, readable workflow id, the search
 * attributes the Temporal UI filters on, and a UI link. Inputs carry names, never secrets.
 */
import type { Workflow } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { PgdrCluster, PgdrProcedure, temporalUiUrl, workflowId, nodeTaskQueue, type Procedure } from '../common/naming.js';
import { clusterOf } from '../config/lookup.js';
import type { PgdrConfig } from '../config/schema.js';
import type { ApiDeps } from './deps.js';
import { ClusterBusyError } from '../common/errors.js';
import type { BackupType } from '../common/catalog.js';
import type { RetentionPolicy } from '../common/retention.js';
import { lockHolder } from '../activities/temporal.js';
import type { BackupInput } from '../workflows/backup.js';

export interface Started<T extends Workflow> {
  handle: WorkflowHandle<T>;
  workflowId: string;
  uiUrl: string;
}

export async function startProcedure<T extends Workflow>(
  deps: ApiDeps,
  procedure: Procedure,
  cluster: string,
  workflow: T,
  args: Parameters<T>,
  opts: { executionTimeout?: string } = {},
): Promise<Started<T>> {
  const id = workflowId(procedure, cluster, new Date());
  const handle = await deps.temporal.workflow.start(workflow, {
    taskQueue: deps.config.temporal.taskQueue,
    workflowId: id,
    args,
    typedSearchAttributes: [
      { key: PgdrCluster, value: cluster },
      { key: PgdrProcedure, value: procedure },
    ],
    ...(opts.executionTimeout ? { workflowExecutionTimeout: opts.executionTimeout } : {}),
  } as never);
  return { handle, workflowId: id, uiUrl: temporalUiUrl(deps.config.temporal.uiUrl, deps.config.temporal.namespace, id, handle.firstExecutionRunId) };
}

/** Node names with their agents' task queues, as workflows need them. */
export function nodeQueues(config: PgdrConfig, cluster: string): { name: string; taskQueue: string }[] {
  return Object.entries(clusterOf(config, cluster).nodes).map(([name, n]) => ({ name, taskQueue: nodeTaskQueue(cluster, name, n.agentQueue) }));
}

/** Refuses early (409) when another mutating procedure holds the cluster's lock. */
export async function ensureNotBusy(deps: ApiDeps, cluster: string): Promise<void> {
  const holder = await lockHolder(deps.temporal, cluster);
  if (holder) throw new ClusterBusyError(cluster, holder);
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
