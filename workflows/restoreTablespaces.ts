/**
 * The tablespace part of the restore pre-flight (planRestore): where each of the chosen
 * backup's tablespaces goes, and those directories judged on the destination's host. Asks the
 * node only when the backup has tablespaces or the request maps some, so restores of backups
 * without any issue exactly the commands they always did.
 */
import type { DestinationFacts, RestorePlan, RestoreRequest } from '../domain/restore.js';
import { judgeLaterTablespaces, judgeTablespaceDirs, mapTablespaces } from '../domain/tablespaces.js';
import type { nodeActivities } from './activityProxies.js';

export async function planTablespaces(
  request: RestoreRequest,
  verdict: { plan: RestorePlan | null; problems: string[] },
  destination: DestinationFacts,
  node: ReturnType<typeof nodeActivities>,
): Promise<{ plan: RestorePlan | null; problems: string[] }> {
  const plan = verdict.plan;
  if (!plan) return verdict;
  // Facts recorded before agents reported the cluster's tablespaces: none known.
  const later = judgeLaterTablespaces(plan.backup, destination.liveTablespaces ?? [], {
    node: request.destination.node,
    immediate: plan.settings.kind === 'immediate' && 'immediate' in request.target,
  });
  const spaces = plan.backup.tablespaces ?? [];
  const asked = Object.keys(request.tablespaceMap ?? {}).length > 0;
  if (!spaces.length && !asked) return later.length ? { plan: null, problems: later } : verdict;
  const { mapping, problems } = mapTablespaces(spaces, request.tablespaceMap, request.destination.dataDir, plan.backup.id);
  problems.unshift(...later);
  if (mapping.length && !problems.length) {
    const facts = await node.inspectTablespaceDirs({ paths: mapping.map((m) => m.to) });
    problems.push(
      ...judgeTablespaceDirs(mapping, facts, {
        node: request.destination.node,
        cluster: request.cluster,
        roots: destination.roots,
        inPlace: plan.inPlace,
      }),
    );
  }
  if (problems.length) return { plan: null, problems };
  return { plan: { ...plan, tablespaces: mapping }, problems: [] };
}
