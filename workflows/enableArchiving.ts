/**
 * enableArchiving: points archive_command at `pgdr wal push` (and restore_command at
 * `pgdr wal fetch`) on every reachable node with ALTER SYSTEM, then reloads. archive_mode
 * needs a restart when it was off: pgdr says so and leaves the restart to the operator.
 */
import { NoPrimaryError, toApplicationFailure } from '../domain/errors.js';
import { withClusterLock, type Refused } from './lock.js';
import { nodeTask } from './profiles.js';
import { probeNodes, type NodeAgent } from './probe.js';
import { nodeActivities } from './activityProxies.js';

export interface EnableArchivingInput {
  cluster: string;
  nodes: NodeAgent[];
  archiveCommand: string;
  restoreCommand: string;
}

export interface EnableArchivingResult {
  archiveCommand: string;
  restoreCommand: string;
  nodes: { node: string; role: string; changed: { name: string; from: string; to: string }[]; restartNeeded: boolean; error?: string }[];
  /** Nodes to restart before archiving works on them. */
  restartNeeded: string[];
}

export async function enableArchiving(input: EnableArchivingInput): Promise<EnableArchivingResult | Refused> {
  return withClusterLock(input.cluster, async () => {
    const probes = await probeNodes(input.cluster, input.nodes);
    const nodes: EnableArchivingResult['nodes'] = [];
    // The primary first: it is the one that archives.
    for (const p of [...probes].sort((a, b) => Number(b.probe?.role === 'primary') - Number(a.probe?.role === 'primary'))) {
      if (!p.probe) {
        nodes.push({ node: p.node.name, role: 'unreachable', changed: [], restartNeeded: false, error: p.error });
        continue;
      }
      const { enableArchivingOnNode } = nodeActivities(p.node.name, p.node.taskQueue, nodeTask);
      const r = await enableArchivingOnNode({ archiveCommand: input.archiveCommand, restoreCommand: input.restoreCommand });
      nodes.push({ node: p.node.name, role: p.probe.role, changed: r.changed, restartNeeded: r.restartNeeded });
    }
    if (!nodes.some((n) => n.role === 'primary'))
      throw toApplicationFailure(new NoPrimaryError(input.cluster, nodes.map((n) => `${n.node}: ${n.error ?? n.role}`).join('; ')));
    return {
      archiveCommand: input.archiveCommand,
      restoreCommand: input.restoreCommand,
      nodes,
      restartNeeded: nodes.filter((n) => n.restartNeeded).map((n) => n.node),
    };
  });
}
