import { z } from 'zod';
import { copyBackup } from '../../workflows/copyBackup.js';
import { clusterOf } from '../../config/lookup.js';
import { checkRepositoryChoice } from '../../config/repositories.js';
import { copyInput } from '../../control/inputs.js';
import { listReports } from '../../adapters/reportStore.js';
import { startProcedure } from '../../control/procedures.js';
import { clusterParams, commonResponses, route, started, temporalUnavailable } from '../routeTable.js';
import { copyReport } from '../bodies.js';

export const startCopyRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/copies',
  operationId: 'startCopy',
  summary:
    'Copies to the secondary repository (storage.secondary) every good backup and the WAL it lacks, checking each object there; verify re-reads the whole copy',
  params: clusterParams,
  body: z
    .object({
      verify: z
        .boolean()
        .default(false)
        .describe('also re-read every object on the secondary and check its sha256; a damaged object fails the run, named'),
    })
    .strict()
    .default({ verify: false }),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started('started: { workflowId, uiUrl }'),
    404: 'unknown cluster',
    422: 'no storage.secondary in the config (REPOSITORY_NOT_CONFIGURED)',
  },
  async handler({ params, body, deps }) {
    clusterOf(deps.config, params.cluster);
    checkRepositoryChoice(deps.config, 'secondary');
    const s = await startProcedure(deps, 'copyBackup', params.cluster, copyBackup, [
      copyInput(deps.config, params.cluster, body.verify, 'api'),
    ]);
    return { status: 202, body: { workflowId: s.workflowId, uiUrl: s.uiUrl } };
  },
});

export const listCopiesRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/copies',
  operationId: 'listCopies',
  summary: 'The copy runs to the secondary repository, oldest first: what each copied, checked and how fast',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'the copy reports, oldest first', body: z.object({ cluster: z.string(), copies: z.array(copyReport) }) },
    404: 'unknown cluster',
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    return { status: 200, body: { cluster: params.cluster, copies: await listReports(deps, 'copies', params.cluster) } };
  },
});
