/**
 * Proxies for the two activity sets: the control worker's (queue `pgdr`, this workflow's own)
 * and one node agent's. A node's proxy carries a summary naming the node, so the Temporal UI
 * shows which node each activity ran for. With a repository other than the primary, every
 * call's input names it, and the worker hands the step that repository's storage.
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control.js';
import type { NodeActivities } from '../activities/node.js';
import type { Repository } from '../config/repositories.js';

/** Activities of the control worker, with a profile from profiles.ts, reading `repository` (default: the primary). */
export function controlActivities(profile: ActivityOptions, repository?: Repository) {
  return onRepository(proxyActivities<ControlActivities>(profile), repository);
}

/** Activities of the agent of `node`, polling `taskQueue`, with a profile from profiles.ts, reading `repository`. */
export function nodeActivities(node: string, taskQueue: string, profile: ActivityOptions, repository?: Repository) {
  return onRepository(proxyActivities<NodeActivities>({ ...profile, taskQueue, summary: `on node ${node}` }), repository);
}

/** The primary: the activities as they are (inputs unchanged, so histories from before repositories replay). */
function onRepository<T extends object>(activities: T, repository: Repository | undefined): T {
  if (repository === undefined || repository === 'primary') return activities;
  return new Proxy(activities, {
    get(target, name) {
      const fn = Reflect.get(target, name) as unknown;
      if (typeof fn !== 'function') return fn;
      return (input?: object) => (fn as (i: object) => unknown)({ ...(input ?? {}), repository });
    },
  });
}
