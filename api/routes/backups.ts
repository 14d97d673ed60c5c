import { z } from 'zod';
import { backup } from '../../workflows/backup.js';
import { clusterOf } from '../../config/lookup.js';
import { catalogIds, listCatalog } from '../../adapters/catalogStore.js';
import { checkRepositoryChoice } from '../../config/repositories.js';
import { onRepository } from '../secondary.js';
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
  repositories: z
    .array(z.enum(['primary', 'secondary']))
    .describe('the repositories holding this backup with a manifest: on the secondary, a copy whose every object was checked'),
});
const backupList = z.object({
  cluster: z.string(),
  repository: z.enum(['primary', 'secondary']).describe('the repository listed'),
  backups: z.array(backupEntry),
  other: z
    .object({ repository: z.enum(['primary', 'secondary']), reachable: z.boolean(), detail: z.string().nullable() })
    .nullable()
    .describe('the other repository, asked which backups it holds (detail: why it could not answer); null: no storage.secondary'),
});

export const listBackupsRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/backups',
  operationId: 'listBackups',
  summary: 'Lists the backups found in S3 (the catalog is the manifests next to the backups)',
  params: clusterParams,
  query: z
    .object({
      repository: z
        .enum(['primary', 'secondary'])
        .default('primary')
        .describe('the repository to list: primary, or secondary (storage.secondary, the offsite copy)'),
    })
    .strict(),
  responses: {
    ...commonResponses,
    200: { description: 'the backups, oldest first, each with its status: good, failed or incomplete', body: backupList },
    404: 'unknown cluster',
    422: 'repository secondary without storage.secondary (REPOSITORY_NOT_CONFIGURED)',
  },
  async handler({ params, query, deps }) {
    clusterOf(deps.config, params.cluster);
    checkRepositoryChoice(deps.config, query.repository);
    const listed = onRepository(deps, query.repository);
    const entries = await listCatalog(listed.s3, listed.config.storage, params.cluster);
    // The other repository's manifests: one listing, so each entry can say where it is held.
    const otherName = query.repository === 'primary' ? 'secondary' : 'primary';
    const other = otherName === 'secondary' && !deps.config.storage.secondary ? undefined : onRepository(deps, otherName);
    let held: Set<string> | null = null;
    let otherState: { repository: 'primary' | 'secondary'; reachable: boolean; detail: string | null } | null = null;
    if (other) {
      try {
        held = await catalogIds(other.s3, other.config.storage, params.cluster);
        otherState = { repository: otherName, reachable: true, detail: null };
      } catch (err) {
        otherState = { repository: otherName, reachable: false, detail: (err as Error).message };
      }
    }
    const where = (id: string, hasManifest: boolean) =>
      (['primary', 'secondary'] as const).filter((r) => (r === query.repository ? hasManifest : !!held?.has(id)));
    return {
      status: 200,
      body: {
        cluster: params.cluster,
        repository: query.repository,
        other: otherState,
        backups: entries.map((e) => ({
          repositories: where(e.id, e.manifest !== null),
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
      from: z
        .enum(['primary', 'standby'])
        .optional()
        .describe("where to take this one: the primary, or a streaming standby (basebackup method); default the cluster's backup.from"),
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
    const c = clusterOf(deps.config, params.cluster);
    if (body.from === 'standby' && c.method === 'pgbackrest') {
      const field = {
        field: 'body.from',
        message: 'expected "primary": the pgbackrest method backs up from the primary only (got "standby")',
      };
      return { status: 400, body: { error: { code: 'BAD_REQUEST', message: `${field.field}: ${field.message}`, fields: [field] } } };
    }
    await ensureNotBusy(deps, params.cluster);
    const input = backupInput(deps.config, params.cluster, body.type, 'api');
    const started = await startLockedProcedure(deps, 'backup', params.cluster, backup, [body.from ? { ...input, from: body.from } : input]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl } };
  },
});
