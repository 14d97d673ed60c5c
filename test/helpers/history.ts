/**
 * What a running workflow has done, read from the Temporal server: its history and its pending
 * activities. Unlike a query, no workflow worker has to answer, so a loaded machine delays
 * nothing a fault test times itself by.
 */
import type { WorkflowHandle } from '@temporalio/client';

/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED */
const STARTED = 2;

/** The activity types the workflow has scheduled so far, in order. */
export async function scheduledActivityTypes(handle: WorkflowHandle): Promise<string[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  return events.flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
}

/** A pending activity of `type` that a worker is running (started, not yet closed), if any. */
export async function runningActivity(handle: WorkflowHandle, type: string) {
  const d = await handle.describe();
  return d.raw.pendingActivities?.find((a) => a.activityType?.name === type && a.state === STARTED);
}
