/**
 * Builds the workers one pgdr process runs: the control worker (workflows plus host-less
 * activities on the `pgdr` queue) and node agents (host-local activities on
 * `pgdr-node-<cluster>-<node>`), each built for its own node and refusing any other. In
 * production each Postgres host runs an agent for its own node only; in dev one process
 * serves every queue.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { nodeTaskQueue } from '../domain/naming.js';
import type { PgdrConfig } from '../config/schema.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { createControlActivities, type ControlActivities } from '../activities/control.js';
import { createNodeActivities, type NodeActivities } from '../activities/node.js';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface WorkerPlan {
  /** Run the control worker (workflows + control activities). */
  control: boolean;
  /** Node agents to run, as "cluster/node" pairs. */
  agents: { cluster: string; node: string }[];
}

/**
 * Which workers this process runs, from PGDR_ROLE ("all" | "control" | "agent") and
 * PGDR_AGENT_NODES ("all" or "cluster/node,cluster/node").
 */
export function planWorkers(config: PgdrConfig, env: NodeJS.ProcessEnv = process.env): WorkerPlan {
  const role = env.PGDR_ROLE ?? 'all';
  if (!['all', 'control', 'agent'].includes(role)) throw new Error(`PGDR_ROLE is "${role}": expected all, control or agent`);
  const all = Object.entries(config.clusters).flatMap(([cluster, c]) => Object.keys(c.nodes).map((node) => ({ cluster, node })));
  const wanted = env.PGDR_AGENT_NODES ?? 'all';
  let agents = all;
  if (wanted !== 'all') {
    const names = wanted
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const n of names) {
      if (!all.some((a) => `${a.cluster}/${a.node}` === n)) {
        throw new Error(
          `PGDR_AGENT_NODES names "${n}": expected cluster/node from pgdr.yaml, one of ${all.map((a) => `${a.cluster}/${a.node}`).join(', ')}`,
        );
      }
    }
    agents = all.filter((a) => names.includes(`${a.cluster}/${a.node}`));
  }
  return { control: role !== 'agent', agents: role === 'control' ? [] : agents };
}

export interface CreateWorkersOptions {
  config: PgdrConfig;
  connection: NativeConnection;
  plan: WorkerPlan;
  /** Activities to register instead of the real ones (tests): the control worker's, and an agent's for a node. */
  controlActivities?: ControlActivities;
  nodeActivities?: (cluster: string, node: string) => NodeActivities;
  /** How long in-flight activities get to finish after SIGINT/SIGTERM before they are cancelled. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export async function createWorkers(opts: CreateWorkersOptions): Promise<Worker[]> {
  const { config, connection, plan } = opts;
  // One secret reader and S3 client for every worker of the process.
  const readSecret = createSecretReader();
  const s3 = createS3Client(config.storage, readSecret);
  const common = {
    connection,
    namespace: config.temporal.namespace,
    shutdownGraceTime: opts.shutdownGraceTime ?? '30 seconds',
    // Heartbeats carry cancellation back; send them at least every 2 s so a cancel stops a
    // tool promptly instead of after 0.8 x heartbeatTimeout.
    maxHeartbeatThrottleInterval: '2 seconds',
  };
  const workers: Worker[] = [];
  if (plan.control) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: config.temporal.taskQueue,
        ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath }),
        activities: opts.controlActivities ?? createControlActivities({ config, readSecret, s3 }),
      }),
    );
  }
  for (const { cluster, node } of plan.agents) {
    const queue = nodeTaskQueue(cluster, node, config.clusters[cluster]?.nodes[node]?.agentQueue);
    const activities = opts.nodeActivities?.(cluster, node) ?? createNodeActivities({ config, cluster, node, readSecret, s3 });
    workers.push(await Worker.create({ ...common, taskQueue: queue, activities }));
  }
  return workers;
}
