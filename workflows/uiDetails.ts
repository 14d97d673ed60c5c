/**
 * What the Temporal UI shows of a running pgdr workflow: its current step as the run's current
 * details (the same text its progress query answers), and the static summary of each child it
 * starts. Neither is a history command, so neither changes what a run replays.
 */
import { setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import { summaryTarget, workflowSummary, type SummarizedWorkflow, type TargetFacts } from '../domain/summaries.js';

/**
 * Makes progress.step (in place) the run's current details too: from here on every
 * `progress.step = ...` also updates the UI, so the two cannot drift and no step needs a second line.
 */
export function showSteps(progress: { step: string }): void {
  let step = progress.step;
  setCurrentDetails(step);
  Object.defineProperty(progress, 'step', {
    enumerable: true,
    get: () => step,
    set: (next: string) => {
      step = next;
      setCurrentDetails(next);
    },
  });
}

/** The staticSummary and staticDetails of a child this workflow starts: credited to this run. */
export function childSummary(
  workflow: SummarizedWorkflow,
  cluster: string,
  input: TargetFacts,
): { staticSummary: string; staticDetails: string } {
  const target = summaryTarget(workflow, input);
  return workflowSummary({ workflow, cluster, target, startedBy: `workflow ${workflowInfo().workflowId}` });
}
