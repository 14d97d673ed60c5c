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
  | 'switchover';

/** Procedures that change state and therefore take the cluster lock. */
export const MUTATING: Procedure[] = ['backup', 'expireBackups', 'enableArchiving', 'replicaRebuild', 'switchover'];

export function lockWorkflowId(cluster: string): string {
  return `lock/${cluster}`;
}

export function scheduleId(cluster: string, name: string): string {
  return `pgdr/${cluster}/${name}`;
}

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
export const WORKFLOW_ID_PATTERN = /^[A-Za-z]+\/[a-z][a-z0-9_-]{0,39}\/[\w.:-]+$/;

export const PgdrCluster = defineSearchAttributeKey('PgdrCluster', SearchAttributeType.KEYWORD);
export const PgdrProcedure = defineSearchAttributeKey('PgdrProcedure', SearchAttributeType.KEYWORD);

/** Link to a run in the Temporal Web UI. */
export function temporalUiUrl(uiBase: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
