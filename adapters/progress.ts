/**
 * Heartbeats and cancellation for long activities. Outside an activity (tests, scripts) it
 * degrades to no heartbeats and a signal that never fires.
 */
import { Context } from '@temporalio/activity';

export interface Progress {
  heartbeat(details: Record<string, unknown>): void;
  signal: AbortSignal;
  /** 1 on the first attempt; more when Temporal retries (e.g. the worker running it died). */
  attempt: number;
}

export function activityProgress(): Progress {
  try {
    const ctx = Context.current();
    return { heartbeat: (d) => ctx.heartbeat(d), signal: ctx.cancellationSignal, attempt: ctx.info.attempt };
  } catch {
    return { heartbeat: () => undefined, signal: new AbortController().signal, attempt: 1 };
  }
}

/** Calls fn every intervalMs until stopped; for periodic heartbeats during a stream. */
export function every(intervalMs: number, fn: () => void): () => void {
  const t = setInterval(fn, intervalMs);
  return () => clearInterval(t);
}
