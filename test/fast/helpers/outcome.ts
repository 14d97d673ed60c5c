/** How a workflow run ended, for assertions. */
import { ApplicationFailure, CancelledFailure, type Workflow } from '@temporalio/common';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';

/** The innermost ApplicationFailure of a failed run; throws when the run did not fail that way. */
export async function failureOf(handle: WorkflowHandle<Workflow>): Promise<ApplicationFailure> {
  const err = await handle.result().then(
    (r) => {
      throw new Error(`expected ${handle.workflowId} to fail, it returned ${JSON.stringify(r)}`);
    },
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowFailedError)) throw err;
  let cause: unknown = err.cause;
  let app: ApplicationFailure | undefined;
  while (cause instanceof Error) {
    if (cause instanceof ApplicationFailure) app = cause;
    cause = (cause as { cause?: unknown }).cause;
  }
  if (!app) throw new Error(`${handle.workflowId} failed without an ApplicationFailure: ${err.cause?.message ?? err.message}`);
  return app;
}

/** True when the run ended cancelled. */
export async function cancelled(handle: WorkflowHandle<Workflow>): Promise<boolean> {
  const err = await handle.result().then(
    () => null,
    (e: unknown) => e,
  );
  return err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure;
}
