/**
 * A pgdr worker process a test can SIGKILL and start again, and what a killed worker leaves in
 * a workflow's history: the activities Temporal ran more than once.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { spawnWorker, waitForLine } from './process.js';

export interface KillableWorker {
  /** Starts a worker process and waits until it polls. */
  start(): Promise<void>;
  /** Everything the worker processes started so far printed (stdout and stderr). */
  output(): string;
  /** SIGKILL to the whole process group (tsx and its node child, and the tools they run). */
  kill(): Promise<void>;
  /** SIGTERM (graceful), for the test's teardown. */
  stop(): Promise<void>;
}

export function killableWorker(configPath: string, env: Record<string, string> = {}): KillableWorker {
  let proc: ReturnType<typeof spawnWorker> | null = null;
  let output = '';
  const signal = async (sig: NodeJS.Signals) => {
    const p = proc;
    proc = null;
    if (!p?.pid) return;
    try {
      process.kill(-p.pid, sig);
    } catch {
      // Already gone.
    }
    await p;
  };
  return {
    async start() {
      if (proc) throw new Error('a worker process is already running');
      proc = spawnWorker(configPath, env);
      proc.all!.on('data', (d: Buffer) => (output += d.toString()));
      await waitForLine(proc, 'pgdr worker polling');
    },
    output: () => output,
    kill: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
  };
}

/**
 * Activity types that ran more than one attempt in a workflow's history: their started event
 * carries attempt > 1 (Temporal records only the last attempt), or an attempt timed out for good.
 */
export async function retriedActivities(handle: WorkflowHandle): Promise<{ type: string; attempt: number }[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const typeOf = new Map<string, string>();
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes)
      typeOf.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
  }
  const out: { type: string; attempt: number }[] = [];
  for (const e of events) {
    const started = e.activityTaskStartedEventAttributes;
    if (started && (started.attempt ?? 1) > 1)
      out.push({ type: typeOf.get(String(started.scheduledEventId)) ?? '?', attempt: started.attempt! });
    const timedOut = e.activityTaskTimedOutEventAttributes;
    if (timedOut) out.push({ type: typeOf.get(String(timedOut.scheduledEventId)) ?? '?', attempt: 0 });
  }
  return out;
}
