/**
 * restoredCopies: asks the agent on each destination node what is at the directories finished
 * restores left there (running, stopped, removed). Read-only; a node that does not answer is
 * reported, not fatal.
 */
import type { CopyFacts } from '../domain/restoredCopy.js';
import { nodeProbe } from './profiles.js';
import { nodeActivities } from './activityProxies.js';
import { rootMessage } from './probe.js';

export interface RestoredCopiesInput {
  cluster: string;
  /** Per destination node: its agent's queue and the directories to look at. */
  nodes: { node: string; taskQueue: string; dataDirs: string[] }[];
}

export interface NodeCopies {
  node: string;
  facts?: CopyFacts[];
  /** The root cause when the node's agent did not answer. */
  error?: string;
}

export async function restoredCopies(input: RestoredCopiesInput): Promise<NodeCopies[]> {
  return Promise.all(
    input.nodes.map(async (n): Promise<NodeCopies> => {
      const { inspectRestoredCopies } = nodeActivities(n.node, n.taskQueue, nodeProbe);
      try {
        return { node: n.node, facts: await inspectRestoredCopies({ dataDirs: n.dataDirs }) };
      } catch (err) {
        return { node: n.node, error: rootMessage(err) };
      }
    }),
  );
}
