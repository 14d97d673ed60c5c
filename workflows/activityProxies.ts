/**
 * Proxies for the two activity sets: the control worker's (queue `pgdr`, this workflow's own)
 * and one node agent's. A node's proxy carries a summary naming the node, so the Temporal UI
 * shows which node each activity ran for.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control.js';
import type { NodeActivities } from '../activities/node.js';

/** Activities of the control worker, with a profile from profiles.ts. */
export function controlActivities(profile: ActivityOptions) {
  return proxyActivities<ControlActivities>(profile);
}

/** Activities of the agent of `node`, polling `taskQueue`, with a profile from profiles.ts. */
export function nodeActivities(node: string, taskQueue: string, profile: ActivityOptions) {
  return proxyActivities<NodeActivities>({ ...profile, taskQueue, summary: `on node ${node}` });
}
