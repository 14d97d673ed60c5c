import { z } from 'zod';
import { expireBackups } from '../../workflows/expireBackups.js';
import { clusterOf } from '../../config/lookup.js';
import { ensureNotBusy, startLockedProcedure } from '../../control/procedures.js';
import { nodeQueues, retentionPolicy } from '../../control/inputs.js';
import { clusterParams, commonResponses, route, started, temporalUnavailable } from '../routeTable.js';

export const expireRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/expire',
  operationId: 'expireBackups',
  summary: 'Applies retention (keep N fulls and/or a recovery window); dryRun lists what would go',
  params: clusterParams,
  body: z.object({ dryRun: z.boolean().default(false).describe('report only, delete nothing') }).strict(),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started('started: { workflowId, uiUrl }; the result is the plan and what was deleted'),
    404: 'unknown cluster',
    409: 'another mutating procedure runs on the cluster',
  },
  async handler({ params, body, deps }) {
    const c = clusterOf(deps.config, params.cluster);
    await ensureNotBusy(deps, params.cluster);
    const started = await startLockedProcedure(deps, 'expireBackups', params.cluster, expireBackups, [
      {
        cluster: params.cluster,
        method: c.method,
        dryRun: body.dryRun,
        retention: retentionPolicy(deps.config, params.cluster),
        nodes: nodeQueues(deps.config, params.cluster),
      },
    ]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl } };
  },
});
