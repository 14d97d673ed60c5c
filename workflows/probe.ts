/** Probing every node of a cluster, each on its own agent's queue. Shared by procedures. */
import type { NodeProbe } from '../domain/status.js';
import { nodeProbe } from './profiles.js';
import { nodeActivities } from './activityProxies.js';

/** A node by name and the task queue of the agent that acts on it. */
export interface NodeAgent {
  name: string;
  taskQueue: string;
}

export interface ProbeOutcome {
  node: NodeAgent;
  probe?: NodeProbe;
  /** The root cause when the node could not be probed. */
  error?: string;
}

/** Probes all nodes in parallel; an unreachable node is an outcome, not a failure. */
export async function probeNodes(cluster: string, nodes: NodeAgent[], onDone: () => void = () => undefined): Promise<ProbeOutcome[]> {
  return Promise.all(
    nodes.map(async (node): Promise<ProbeOutcome> => {
      const { probeNode } = nodeActivities(node.name, node.taskQueue, nodeProbe);
      try {
        return { node, probe: await probeNode() };
      } catch (err) {
        return { node, error: rootMessage(err) };
      } finally {
        onDone();
      }
    }),
  );
}

/** The innermost message of a Temporal failure chain (ActivityFailure -> ApplicationFailure). */
export function rootMessage(err: unknown): string {
  let cur = err as { message?: string; cause?: unknown } | undefined;
  while (cur?.cause) cur = cur.cause as typeof cur;
  return cur?.message ?? String(err);
}
