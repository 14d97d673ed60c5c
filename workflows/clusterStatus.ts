/**
 * clusterStatus: asks the agent on every node for its figures, then relates them.
 * Read-only; an unreachable node is reported, not fatal.
 */
import { setHandler, defineQuery } from '@temporalio/workflow';
import { summarizeCluster, type ClusterStatus } from '../domain/status.js';
import { probeNodes } from './probe.js';

export interface ClusterStatusInput {
  cluster: string;
  /** Node names with the task queue of each node's agent (resolved from config by the caller). */
  nodes: { name: string; taskQueue: string }[];
  /** Standby replay lag, in bytes, above which a warning is raised. */
  maxLagBytes?: number;
}

export const progressQuery = defineQuery<{ step: string; done: number; total: number }>('progress');

export async function clusterStatus(input: ClusterStatusInput): Promise<ClusterStatus> {
  let done = 0;
  setHandler(progressQuery, () => ({ step: 'probing nodes', done, total: input.nodes.length }));

  // 1. Probe every node in parallel, each on its own agent's queue.
  const outcomes = await probeNodes(input.cluster, input.nodes, () => void done++);

  // 2. Relate them: who is primary, how far each standby trails it.
  return summarizeCluster(input.cluster, outcomes, input.maxLagBytes);
}
