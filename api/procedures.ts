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
