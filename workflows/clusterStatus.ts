/**
 * clusterStatus: asks the agent on every node for its figures, then relates them.
 * Read-only; an unreachable node is reported, not fatal.
 */
import { setHandler, defineQuery } from '@temporalio/workflow';
import type { ClusterStatus, NodeStatus } from '../common/status.js';
import { lsnDiff } from '../common/lsn.js';
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
  const nodes: NodeStatus[] = outcomes.map(({ node, probe, error }) =>
    probe ? { node: node.name, taskQueue: node.taskQueue, reachable: true, probe } : { node: node.name, taskQueue: node.taskQueue, reachable: false, error },
  );

  // 2. Relate them: who is primary, how far each standby trails it.
  const warnings: string[] = [];
  const primaries = nodes.filter((n) => n.probe?.role === 'primary');
  if (primaries.length === 0) warnings.push('no reachable primary');
  if (primaries.length > 1) warnings.push(`more than one primary: ${primaries.map((p) => p.node).join(', ')} (split brain?)`);
  const primary = primaries.length === 1 ? primaries[0]! : undefined;
  for (const n of nodes) {
    if (!n.reachable) warnings.push(`node ${n.node} unreachable: ${n.error}`);
    const p = n.probe;
    if (!p || p.role !== 'standby') continue;
    if (primary?.probe?.currentLsn && p.replayLsn) n.lagBytes = Math.max(0, lsnDiff(primary.probe.currentLsn, p.replayLsn));
    if (primary?.probe && p.timeline !== primary.probe.timeline) warnings.push(`standby ${n.node} is on timeline ${p.timeline}, primary ${primary.node} on ${primary.probe.timeline}`);
    if (p.walReceiver?.status !== 'streaming') warnings.push(`standby ${n.node} is not streaming (wal receiver: ${p.walReceiver?.status ?? 'none'})`);
    if (input.maxLagBytes !== undefined && (n.lagBytes ?? 0) > input.maxLagBytes) warnings.push(`standby ${n.node} lags ${n.lagBytes} bytes, above ${input.maxLagBytes}`);
  }
  const sysIds = new Set(nodes.flatMap((n) => (n.probe ? [n.probe.systemIdentifier] : [])));
  if (sysIds.size > 1) warnings.push(`nodes report different system identifiers: ${[...sysIds].join(', ')}`);

  return { cluster: input.cluster, primary: primary?.node ?? null, nodes, warnings, checkedAt: new Date().toISOString() };
}
