import { z } from 'zod';
import { clusterStatus } from '../../workflows/clusterStatus.js';
import { clusterOf } from '../../config/lookup.js';
import { startProcedure } from '../../control/procedures.js';
import { nodeQueues } from '../../control/inputs.js';
import { clusterParams, commonResponses, route, startedBody, temporalUnavailable } from '../routeTable.js';
import { clusterStatus as clusterStatusBody } from '../bodies.js';

export const statusRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/status',
  operationId: 'getClusterStatus',
  summary: 'Runs the clusterStatus workflow: role, timeline, LSNs, replication lag and archiver figures of every node',
  params: clusterParams,
  query: z
    .object({
      // Digits only: z.coerce alone would read "" (and " ") as 0, a threshold nobody asked for.
      maxLagBytes: z
        .string()
        .regex(/^\d+$/, 'expected a whole number of bytes')
        .transform(Number)
        .pipe(
          z
            .number()
            .int()
            .min(0)
            .max(2 ** 40),
        )
        .default(16 * 1024 * 1024)
        .describe('standby lag in bytes above which a warning is raised (default 16 MiB)'),
    })
    .strict(),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    200: {
      description: 'the cluster status, with the workflow id and a Temporal UI link',
      body: startedBody.extend(clusterStatusBody.shape),
    },
    404: 'unknown cluster',
  },
  async handler({ params, query, deps }) {
    clusterOf(deps.config, params.cluster);
    const started = await startProcedure(
      deps,
      'clusterStatus',
      params.cluster,
      clusterStatus,
      [{ cluster: params.cluster, nodes: nodeQueues(deps.config, params.cluster), maxLagBytes: query.maxLagBytes }],
      { executionTimeout: '2 minutes' },
    );
    const status = await started.handle.result();
    return { status: 200, body: { workflowId: started.workflowId, uiUrl: started.uiUrl, ...status } };
  },
});
