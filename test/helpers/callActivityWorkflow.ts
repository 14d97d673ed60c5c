/**
 * A test-only workflow that schedules one activity by name on a queue, with the input given
 * as is: how a task from an older workflow version (one that still names its node) looks.
 */
import { proxyActivities } from '@temporalio/workflow';

export async function callActivity(taskQueue: string, activity: string, input: unknown, maximumAttempts: number): Promise<unknown> {
  const acts = proxyActivities<Record<string, (input?: unknown) => Promise<unknown>>>({
    taskQueue,
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumAttempts },
  });
  return input === undefined ? acts[activity]!() : acts[activity]!(input);
}
