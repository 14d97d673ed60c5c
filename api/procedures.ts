/**
 * Starting procedures from the API: a deterministic, readable workflow id, the search
 * attributes the Temporal UI filters on, and a UI link. Inputs carry names, never secrets.
 */
import type { Workflow } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { PgdrCluster, PgdrProcedure, temporalUiUrl, workflowId, type Procedure } from '../common/naming.js';
import type { ApiDeps } from './deps.js';
import { ClusterBusyError } from '../common/errors.js';
import { lockHolder } from '../activities/temporal.js';

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

/** Refuses early (409) when another mutating procedure holds the cluster's lock. */
export async function ensureNotBusy(deps: ApiDeps, cluster: string): Promise<void> {
  const holder = await lockHolder(deps.temporal, cluster);
  if (holder) throw new ClusterBusyError(cluster, holder);
}
