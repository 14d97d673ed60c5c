import { z } from 'zod';
import { backup } from '../../workflows/backup.js';
import { clusterOf } from '../../config/lookup.js';
import { listCatalog } from '../../adapters/catalogStore.js';
import { ensureNotBusy, startLockedProcedure } from '../../control/procedures.js';
import { backupInput } from '../../control/inputs.js';
import { clusterParams, commonResponses, route } from '../routeTable.js';

export const listBackupsRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/backups',
  summary: 'Lists the backups found in S3 (the catalog is the manifests next to the backups)',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: { ...commonResponses, 200: 'the backups, oldest first, each with its status: good, failed or incomplete', 404: 'unknown cluster' },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    const entries = await listCatalog(deps.s3, deps.config.storage, params.cluster);
    return {
      status: 200,
      body: {
        cluster: params.cluster,
        backups: entries.map((e) => ({
          id: e.id,
          status: e.status,
          method: e.manifest?.method ?? null,
          type: e.manifest?.type ?? null,
          parent: e.manifest?.parent ?? null,
          startTime: e.manifest?.startTime ?? null,
          stopTime: e.manifest?.stopTime ?? null,
          startLsn: e.manifest?.startLsn ?? null,
          stopLsn: e.manifest?.stopLsn ?? null,
          timeline: e.manifest?.timeline ?? null,
          bytes: e.manifest?.bytes ?? null,
          sourceNode: e.manifest?.sourceNode ?? null,
          verification: e.manifest?.verification ?? null,
          workflowId: e.manifest?.workflowId ?? null,
        })),
      },
    };
  },
});

export const startBackupRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/backups',
  summary: 'Starts a backup; answers once the workflow is started',
  params: clusterParams,
  body: z
    .object({
      type: z.enum(['full', 'diff', 'incr']).default('full').describe('backup type; the basebackup method takes every backup as a full'),
    })
    .strict(),
  responses: { ...commonResponses, 202: 'started: { workflowId, uiUrl }', 404: 'unknown cluster', 409: 'another mutating procedure runs on the cluster; names it' },
  async handler({ params, body, deps }) {
    clusterOf(deps.config, params.cluster);
    await ensureNotBusy(deps, params.cluster);
    const started = await startLockedProcedure(deps, 'backup', params.cluster, backup, [backupInput(deps.config, params.cluster, body.type, 'api')]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl } };
  },
});
