/**
 * Names shared by the API, the worker and workflows: task queues, workflow ids, search
 * attributes. Workflow-safe (no Node imports).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CONTROL_TASK_QUEUE = 'pgdr';

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
  | 'dropRestore';

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

/** Readable, sortable workflow ids: <procedure>/<cluster>/<UTC timestamp>. */
export function workflowId(procedure: Procedure, cluster: string, at: Date): string {
  return `${procedure}/${cluster}/${at.toISOString().replace(/[:.]/g, '-')}`;
}

export const PgdrCluster = defineSearchAttributeKey('PgdrCluster', SearchAttributeType.KEYWORD);
export const PgdrProcedure = defineSearchAttributeKey('PgdrProcedure', SearchAttributeType.KEYWORD);

/** Link to a run in the Temporal Web UI. */
export function temporalUiUrl(uiBase: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
