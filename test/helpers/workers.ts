import type { Worker } from '@temporalio/worker';

/** Runs every worker until fn settles, then lets them all drain before returning. */
export async function runWorkersUntil<T>(workers: Worker[], fn: () => Promise<T>): Promise<T> {
  const [first, ...rest] = workers;
  if (!first) return fn();
  return first.runUntil(runWorkersUntil(rest, fn));
}
