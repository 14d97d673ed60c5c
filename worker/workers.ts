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
import type { KeptSessions } from '../adapters/keptConnection.js';
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
 * PGDR_AGENT_NODES ("all" or "cluster/node,cluster/node"), or PGDR_AGENT_INSTANCE
 * ("<cluster>-<node>", the instance name of the pgdr-agent@ systemd unit).
 */
export function planWorkers(config: PgdrConfig, env: NodeJS.ProcessEnv = process.env): WorkerPlan {
  const role = env.PGDR_ROLE ?? 'all';
  if (!['all', 'control', 'agent'].includes(role)) throw new Error(`PGDR_ROLE is "${role}": expected all, control or agent`);
  const all = Object.entries(config.clusters).flatMap(([cluster, c]) => Object.keys(c.nodes).map((node) => ({ cluster, node })));
  const wanted = agentInstanceNode(env.PGDR_AGENT_INSTANCE, all) ?? env.PGDR_AGENT_NODES ?? 'all';
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

/**
 * The "cluster/node" a systemd instance name "<cluster>-<node>" stands for. Names may hold "-"
 * themselves, so the instance is matched against the configured pairs, and must match one.
 */
function agentInstanceNode(instance: string | undefined, all: { cluster: string; node: string }[]): string | undefined {
  if (instance === undefined) return undefined;
  const matches = all.filter((a) => `${a.cluster}-${a.node}` === instance);
  if (matches.length !== 1) {
    const known = all.map((a) => `${a.cluster}-${a.node}`).join(', ');
    throw new Error(
      matches.length === 0
        ? `PGDR_AGENT_INSTANCE is "${instance}": expected <cluster>-<node> of a node in pgdr.yaml, one of ${known}`
        : `PGDR_AGENT_INSTANCE is "${instance}": it names more than one node (${matches.map((m) => `${m.cluster}/${m.node}`).join(', ')}); use PGDR_AGENT_NODES=cluster/node`,
    );
  }
  return `${matches[0]!.cluster}/${matches[0]!.node}`;
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
  /** Agents' kept sessions to their servers; the caller closes them once the workers have stopped. */
  sessions?: KeptSessions;
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
    const activities =
      opts.nodeActivities?.(cluster, node) ??
      createNodeActivities({ config, cluster, node, readSecret, s3, ...(opts.sessions ? { sessions: opts.sessions } : {}) });
    workers.push(await Worker.create({ ...common, taskQueue: queue, activities }));
  }
  return workers;
}
