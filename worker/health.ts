/**
 * pgdr-worker's health check, for the container image's HEALTHCHECK or any supervisor: healthy
 * when Temporal sees a poller from this host on every task queue this process is meant to serve
 * (PGDR_ROLE and PGDR_AGENT_NODES, planned exactly as the worker plans them). A worker that lost
 * its connection, or never started one of its agents, stops polling and so turns unhealthy.
 *
 * Exit 0 when healthy, 1 when not (saying which queue has no poller from here), 3 when Temporal
 * cannot be asked. Reads the same config and TEMPORAL_* environment as the worker.
 */
import { hostname } from 'node:os';
import { loadConfig } from '../config/load.js';
import { nodeTaskQueue } from '../domain/naming.js';
import { connectClient } from '../adapters/temporalConnection.js';
import { planWorkers } from './workers.js';

/** temporal.api.enums.v1.TaskQueueType values. */
const TaskQueueType = { TASK_QUEUE_TYPE_WORKFLOW: 1, TASK_QUEUE_TYPE_ACTIVITY: 2 } as const;

/** The queues this process should poll, with the kinds of task it polls them for. */
export function expectedPollers(config: ReturnType<typeof loadConfig>, env: NodeJS.ProcessEnv): { queue: string; type: number }[] {
  const plan = planWorkers(config, env);
  const out: { queue: string; type: number }[] = [];
  if (plan.control) {
    out.push({ queue: config.temporal.taskQueue, type: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW });
    out.push({ queue: config.temporal.taskQueue, type: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY });
  }
  for (const { cluster, node } of plan.agents) {
    const queue = nodeTaskQueue(cluster, node, config.clusters[cluster]?.nodes[node]?.agentQueue);
    out.push({ queue, type: TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY });
  }
  return out;
}

async function main(): Promise<number> {
  const config = loadConfig();
  const here = `@${hostname()}`;
  let connection;
  try {
    connection = await connectClient(config.temporal);
  } catch (err) {
    console.error(`pgdr-worker health: ${(err as Error).message.split('\n')[0]}`);
    return 3;
  }
  try {
    const missing: string[] = [];
    for (const { queue, type } of expectedPollers(config, process.env)) {
      const res = await connection.workflowService.describeTaskQueue({
        namespace: config.temporal.namespace,
        taskQueue: { name: queue },
        taskQueueType: type,
      });
      // The SDK's default worker identity is <pid>@<hostname>.
      if (!(res.pollers ?? []).some((p) => (p.identity ?? '').endsWith(here))) {
        missing.push(`${queue} (${type === TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW ? 'workflow' : 'activity'} tasks)`);
      }
    }
    if (missing.length) {
      console.error(`pgdr-worker health: no poller from ${hostname()} on ${missing.join(', ')}`);
      return 1;
    }
    console.log('pgdr-worker health: ok');
    return 0;
  } finally {
    await connection.close();
  }
}

process.exitCode = await main();
