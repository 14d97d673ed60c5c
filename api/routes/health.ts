import { z } from 'zod';
import { checkBucket } from '../../adapters/storage.js';
import { tcpCheck, type TcpCheck } from '../../adapters/net.js';
import { nodeTaskQueue } from '../../domain/naming.js';
import { route } from '../routeTable.js';

const check = z.object({ ok: z.boolean(), detail: z.string().optional().describe('why not, when ok is false') });
const healthBody = z.union([
  z
    .object({
      ok: z.boolean(),
      temporal: check,
      storage: check,
      nodes: z.array(
        z.object({ cluster: z.string(), node: z.string(), address: z.string(), postgres: check, agent: check, ok: z.boolean() }),
      ),
    })
    .describe('with the token: each part and why it is down'),
  z
    .object({ ok: z.boolean(), temporal: z.boolean(), storage: z.boolean(), nodes: z.boolean() })
    .describe('without the token: only whether each part is up (addresses stay private)'),
]);
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
  const nodes = Object.entries(config.clusters).flatMap(([cluster, c]) =>
    Object.entries(c.nodes).map(([node, n]) => ({ cluster, node, n })),
  );
  const [temporal, storage, ...nodeChecks] = await Promise.all([
    settle(deps.temporal.workflowService.getSystemInfo({})),
    settle(checkBucket(deps.s3, config.storage.bucket)),
    ...nodes.map(async ({ cluster, node, n }) => {
      const [postgres, agent] = await Promise.all([
        tcpCheck(n.host, n.port),
        agentPolling(deps, nodeTaskQueue(cluster, node, n.agentQueue)),
      ]);
      return { cluster, node, address: `${n.host}:${n.port}`, postgres, agent, ok: postgres.ok && agent.ok };
    }),
  ]);
  const ok = temporal.ok && storage.ok && nodeChecks.every((c) => c.ok);
  return { ok, temporal, storage, nodes: nodeChecks };
}

export const healthRoute = route({
  method: 'GET',
  path: '/healthz',
  operationId: 'getHealth',
  summary: "Checks Temporal, the S3 bucket, and that every node's Postgres port answers and its agent polls",
  auth: false,
  query: z.object({}).strict(),
  responses: {
    400: 'a query parameter was given (it takes none)',
    200: { description: 'everything is reachable', body: healthBody },
    503: { description: 'something is not; with a token, the body says what', body: healthBody },
  },
  async handler({ deps, authenticated }) {
    const report = await healthReport(deps);
    // Without the token, say only whether each part is up: addresses stay private.
    const body = authenticated
      ? report
      : { ok: report.ok, temporal: report.temporal.ok, storage: report.storage.ok, nodes: report.nodes.every((n) => n.ok) };
    return { status: report.ok ? 200 : 503, body };
  },
});
