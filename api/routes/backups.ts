import { z } from 'zod';
import { backup } from '../../workflows/backup.js';
import { clusterOf } from '../../config/lookup.js';
import { listCatalog } from '../../adapters/catalogStore.js';
import { ensureNotBusy, startLockedProcedure } from '../../control/procedures.js';
import { backupInput } from '../../control/inputs.js';
import { clusterParams, commonResponses, route, started, temporalUnavailable } from '../routeTable.js';

const backupEntry = z.object({
  id: z.string().describe('backup id, e.g. 20261120T224745224Z-F'),
  status: z.enum(['good', 'failed', 'incomplete']),
  method: z.enum(['basebackup', 'pgbackrest']).nullable(),
  type: z.enum(['full', 'diff', 'incr']).nullable(),
  parent: z.string().nullable().describe('the backup a diff or incr builds on'),
  startTime: z.string().nullable(),
  stopTime: z.string().nullable(),
  startLsn: z.string().nullable(),
  stopLsn: z.string().nullable(),
  timeline: z.number().nullable(),
  bytes: z.number().nullable().describe('bytes stored (compressed)'),
  sourceNode: z.string().nullable(),
  verification: z.object({ tool: z.string(), ok: z.boolean(), seconds: z.number(), detail: z.string() }).nullable(),
  workflowId: z.string().nullable(),
});
const backupList = z.object({ cluster: z.string(), backups: z.array(backupEntry) });

export const listBackupsRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/backups',
  operationId: 'listBackups',
  summary: 'Lists the backups found in S3 (the catalog is the manifests next to the backups)',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'the backups, oldest first, each with its status: good, failed or incomplete', body: backupList },
    404: 'unknown cluster',
  },
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
  operationId: 'startBackup',
  summary: 'Starts a backup; answers once the workflow is started',
  params: clusterParams,
  body: z
    .object({
      type: z.enum(['full', 'diff', 'incr']).default('full').describe('backup type; the basebackup method takes every backup as a full'),
    })
    .strict(),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started('started: { workflowId, uiUrl }'),
    404: 'unknown cluster',
    409: 'another mutating procedure runs on the cluster; names it',
  },
  async handler({ params, body, deps }) {
    clusterOf(deps.config, params.cluster);
    await ensureNotBusy(deps, params.cluster);
    const started = await startLockedProcedure(deps, 'backup', params.cluster, backup, [
      backupInput(deps.config, params.cluster, body.type, 'api'),
    ]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl } };
  },
});
