import { z } from 'zod';
import { checkBucket } from '../../adapters/storage.js';
import { tcpCheck, type TcpCheck } from '../../adapters/net.js';
import { nodeTaskQueue } from '../../domain/naming.js';
import { route } from '../routeTable.js';
import type { ApiDeps } from '../deps.js';

type Check = TcpCheck;

async function settle(p: Promise<unknown>): Promise<Check> {
  try {
    await p;
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: (err as Error).message || (err as Error).name };
  }
}

/** Does some worker poll this activity queue? (Is the node's agent alive?) */
async function agentPolling(deps: ApiDeps, queue: string): Promise<Check> {
  try {
    const res = await deps.temporal.workflowService.describeTaskQueue({
      namespace: deps.config.temporal.namespace,
      taskQueue: { name: queue },
      taskQueueType: 2, // TASK_QUEUE_TYPE_ACTIVITY
    });
    const pollers = res.pollers?.length ?? 0;
    return pollers > 0 ? { ok: true } : { ok: false, detail: `no agent polls ${queue}` };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

export async function healthReport(deps: ApiDeps) {
  const { config } = deps;
  const nodes = Object.entries(config.clusters).flatMap(([cluster, c]) => Object.entries(c.nodes).map(([node, n]) => ({ cluster, node, n })));
  const [temporal, storage, ...nodeChecks] = await Promise.all([
    settle(deps.temporal.workflowService.getSystemInfo({})),
    settle(checkBucket(deps.s3, config.storage.bucket)),
    ...nodes.map(async ({ cluster, node, n }) => {
      const [postgres, agent] = await Promise.all([tcpCheck(n.host, n.port), agentPolling(deps, nodeTaskQueue(cluster, node, n.agentQueue))]);
      return { cluster, node, address: `${n.host}:${n.port}`, postgres, agent, ok: postgres.ok && agent.ok };
    }),
  ]);
  const ok = temporal.ok && storage.ok && nodeChecks.every((c) => c.ok);
  return { ok, temporal, storage, nodes: nodeChecks };
}

export const healthRoute = route({
  method: 'GET',
  path: '/healthz',
  summary: 'Checks Temporal, the S3 bucket, and that every node\'s Postgres port answers and its agent polls',
  auth: false,
  query: z.object({}).strict(),
  responses: { 200: 'everything is reachable', 503: 'something is not; with a token, the body says what' },
  async handler({ deps, authenticated }) {
    const report = await healthReport(deps);
    // Without the token, say only whether each part is up: addresses stay private.
    const body = authenticated
      ? report
      : { ok: report.ok, temporal: report.temporal.ok, storage: report.storage.ok, nodes: report.nodes.every((n) => n.ok) };
    return { status: report.ok ? 200 : 503, body };
  },
});
