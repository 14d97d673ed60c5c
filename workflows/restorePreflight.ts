/**
 * restorePreflight: the read-only dry run of a restore (POST .../restores?dryRun=true). Nothing is
 * created; the answer is the plan (backup, target, destination with its port) or the problems.
 */
import type { RestoreRequest } from '../domain/restore.js';
import { planRestore, resolveRepository, type PlanOutcome } from './restorePlan.js';
import type { NodeAgent } from './probe.js';

export interface RestorePreflightInput {
  request: RestoreRequest;
  destinationQueue: string;
  /** The cluster's nodes: the plan follows the current primary's timeline (absent in older inputs). */
  nodes?: NodeAgent[];
  /**
   * The workflow id of the pitrRestore the API starts next: the port is claimed for it, so the
   * 202 names the port that restore really gets. Without it nothing is claimed.
   */
  claimFor?: string;
}

export async function restorePreflight(input: RestorePreflightInput): Promise<PlanOutcome> {
  const { repository, note } = await resolveRepository(input.request.repository);
  const outcome = await planRestore(input.request, input.destinationQueue, input.nodes, {
    ...(input.claimFor ? { claimFor: input.claimFor } : {}),
    ...(repository !== 'primary' ? { repository } : {}),
  });
  if (note && outcome.plan) outcome.plan.notes = [...(outcome.plan.notes ?? []), note];
  return outcome;
}
