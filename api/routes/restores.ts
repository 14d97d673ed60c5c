import { z } from 'zod';
import { pitrRestore } from '../../workflows/pitrRestore.js';
import { restorePreflight } from '../../workflows/restorePreflight.js';
import { clusterOf } from '../../config/lookup.js';
import { defaultDestination, restoreInput } from '../../config/inputs.js';
import { isRfc3339, restoreId, type RestoreRequest, type RestoreTarget } from '../../common/restore.js';
import { RestorePreflightError } from '../../common/errors.js';
import { isLsn } from '../../common/lsn.js';
import { listRestoreReports } from '../../activities/restore.js';
import { ensureNotBusy, startLockedProcedure, startProcedure } from '../procedures.js';
import { clusterParams, commonResponses, route } from '../routes.js';

const TARGET_KINDS = ['time', 'lsn', 'name', 'latest', 'immediate'] as const;

/** Date.parse rolls 2026-02-30 over to March 2; a recovery target must name a day that exists. */
function dayExists(rfc3339: string): boolean {
  const [y, m, d] = rfc3339.slice(0, 10).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}

const target = z
  .object({
    time: z.string().refine((s) => isRfc3339(s) && dayExists(s), 'expected an RFC 3339 time with an offset, e.g. 2026-11-20T10:15:00.250+01:00').optional().describe('recover to this commit time'),
    lsn: z.string().refine(isLsn, 'expected an LSN like 0/3000060').optional().describe('recover to this WAL location'),
    name: z.string().regex(/^[\x20-\x7e]{1,63}$/, 'expected a restore point name: 1-63 printable ASCII characters').optional().describe('recover to this restore point (pg_create_restore_point)'),
    latest: z.literal(true).optional().describe('recover to the newest archived commit'),
    immediate: z.literal(true).optional().describe('stop as soon as the backup is consistent'),
  })
  .strict()
  .refine((t) => TARGET_KINDS.filter((k) => t[k] !== undefined).length === 1, `expected exactly one of ${TARGET_KINDS.join(', ')}`)
  .describe('where recovery stops');

const dataDir = z
  .string()
  .max(1024)
  .regex(/^\/(?!.*(^|\/)\.\.?(\/|$))[\x21-\x7e]+$/, 'expected an absolute path without "." or ".." segments, spaces or control characters')
  .describe('data directory to restore into; default <restore.dir>/<cluster>-<restoreId>');

export const restoreBody = z
  .object({
    target,
    destination: z
      .object({
        node: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, 'expected a node name from pgdr.yaml').optional().describe('node whose host receives the restore; default restore.node'),
        dataDir: dataDir.optional(),
        port: z.number().int().min(1024).max(65535).optional().describe('port of the restored instance; default the first free one in restore.portFrom..portTo'),
      })
      .strict()
      .default({})
      .describe('where the restore goes; default a new directory and a free port on the restore node'),
    action: z.enum(['promote', 'pause']).default('pause').describe('at the target: pause (read-only, for inspection) or promote'),
    backupId: z.string().regex(/^\d{8}T\d{9}Z-[FDI]$/, 'expected a backup id like 20261120T224745224Z-F').optional().describe('restore from this backup instead of the newest one before the target'),
    inclusive: z.boolean().default(true).describe('stop just after the target (true) or just before it'),
    replaceExisting: z.boolean().default(false).describe('restore over an existing data directory or running server; the old directory is renamed aside until the restore is proven'),
    confirm: z.string().max(64).optional().describe('the cluster name, required with replaceExisting'),
  })
  .strict();

export const startRestoreRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/restores',
  summary: 'Point-in-time restore: runs the pre-flight, then starts pitrRestore; answers once the pre-flight passed',
  params: clusterParams,
  body: restoreBody,
  responses: {
    ...commonResponses,
    202: 'started: { workflowId, uiUrl, restoreId, backupId, destination, lastArchivedCommit }',
    404: 'unknown cluster or node',
    409: 'replaceExisting while another mutating procedure runs on the cluster',
    422: 'the pre-flight refused: every problem named, with the value and the valid range; nothing was created',
  },
  async handler({ params, body, deps }) {
    clusterOf(deps.config, params.cluster);
    if (body.replaceExisting) await ensureNotBusy(deps, params.cluster);
    const now = new Date();
    const request: RestoreRequest = {
      cluster: params.cluster,
      target: body.target as RestoreTarget,
      destination: defaultDestination(deps.config, params.cluster, restoreId(now), body.destination),
      action: body.action,
      inclusive: body.inclusive,
      replaceExisting: body.replaceExisting,
      ...(body.backupId ? { backupId: body.backupId } : {}),
      ...(body.confirm !== undefined ? { confirm: body.confirm } : {}),
    };
    const input = restoreInput(deps.config, request, 'api');
    // The pre-flight is its own read-only workflow: it needs the archive and a node agent.
    const pre = await startProcedure(deps, 'restorePreflight', params.cluster, restorePreflight, [{ request, destinationQueue: input.destinationQueue }], { executionTimeout: '5 minutes' });
    const outcome = await pre.handle.result();
    if (!outcome.plan) throw new RestorePreflightError(params.cluster, outcome.problems);
    request.destination = { ...request.destination, port: outcome.destination.port };
    // Replacing a cluster's data changes the cluster: the lock decides, and a lost race is a 409.
    const args: Parameters<typeof pitrRestore> = [{ ...input, request }];
    const started = body.replaceExisting ? await startLockedProcedure(deps, 'pitrRestore', params.cluster, pitrRestore, args) : await startProcedure(deps, 'pitrRestore', params.cluster, pitrRestore, args);
    return {
      status: 202,
      body: {
        workflowId: started.workflowId,
        uiUrl: started.uiUrl,
        preflightWorkflowId: pre.workflowId,
        backupId: outcome.plan.backup.id,
        destination: request.destination,
        lastArchivedCommit: outcome.lastCommit,
      },
    };
  },
});

export const listRestoresRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/restores',
  summary: 'The stored restore reports (achieved RTO by phase, where recovery stopped), oldest first',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: { ...commonResponses, 200: '{ cluster, restores: [report] }', 404: 'unknown cluster' },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    return { status: 200, body: { cluster: params.cluster, restores: await listRestoreReports(deps, params.cluster) } };
  },
});
