/**
 * Replica rebuild and planned switchover. The workflow judges the cluster once, inside the
 * cluster lock and before it changes anything; the route answers from that verdict
 * (update-with-start): 202, 409 busy, or 412/422 with the numbers, nothing changed.
 */
import { z } from 'zod';
import { replicaRebuild, type RebuildVerdictFacts } from '../../workflows/replicaRebuild.js';
import { switchover, type SwitchoverVerdictFacts } from '../../workflows/switchover.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { checkRepositoryChoice } from '../../config/repositories.js';
import { rebuildInput, switchoverInput } from '../../control/inputs.js';
import { listReports } from '../../adapters/reportStore.js';
import { reportsOfBoth } from '../secondary.js';
import { ensureNotBusy, startJudgedProcedure } from '../../control/procedures.js';
import { clusterName, clusterParams, commonResponses, route, started, startedBody, temporalUnavailable } from '../routeTable.js';
import { rebuildReport, repositoryChoice, switchoverReport } from '../bodies.js';
import { NAME_FORM, NAME_PATTERN } from '../../domain/naming.js';

const nodeName = z.string().regex(NAME_PATTERN, `expected a node name from pgdr.yaml: ${NAME_FORM}`);

export const rebuildRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/nodes/:node/rebuild',
  operationId: 'rebuildReplica',
  summary: 'Rebuild a standby from the primary or the newest backup; its old data directory is kept until the new copy streams',
  params: z.object({ cluster: clusterName, node: nodeName }).strict(),
  body: z
    .object({
      source: z
        .enum(['primary', 'backup'])
        .default('primary')
        .describe('clone the primary (pg_basebackup), or restore the newest good backup and catch up from the archive'),
      repository: repositoryChoice.describe(
        'source backup: the repository to read it from: primary, secondary (storage.secondary), or auto (the secondary only when the primary storage is unreachable)',
      ),
    })
    .strict()
    .refine((b) => b.repository === 'primary' || b.source === 'backup', {
      path: ['repository'],
      message: 'expected "primary" (or no repository) with source "primary": only source "backup" reads a repository',
    })
    .default({ source: 'primary', repository: 'primary' }),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started(
      'started: { workflowId, uiUrl, node, primary, source, backupId }: the primary it clones from, or the backup it restores',
      startedBody.extend({
        node: z.string(),
        primary: z.string().nullable().describe('the primary the standby will stream from'),
        source: z.enum(['primary', 'backup']),
        backupId: z.string().nullable().describe('source backup: the backup it restores'),
      }),
    ),
    404: 'unknown cluster or node',
    409: 'another mutating procedure runs on the cluster (named)',
    412: 'the cluster has no reachable primary to rebuild from, or (source backup) no good backup',
    422: 'the node is the primary',
  },
  async handler({ params, body, deps }) {
    nodeOf(deps.config, params.cluster, params.node);
    await ensureNotBusy(deps, params.cluster);
    checkRepositoryChoice(deps.config, body.repository);
    const input = rebuildInput(deps.config, params.cluster, params.node, body.source, 'api', body.repository);
    const started = await startJudgedProcedure<typeof replicaRebuild, RebuildVerdictFacts>(
      deps,
      'replicaRebuild',
      params.cluster,
      replicaRebuild,
      [input],
    );
    const f = started.facts;
    return {
      status: 202,
      body: {
        workflowId: started.workflowId,
        uiUrl: started.uiUrl,
        node: f.node,
        primary: f.primary,
        source: f.source,
        backupId: f.backupId,
      },
    };
  },
});

export const switchoverRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/switchover',
  operationId: 'switchover',
  summary:
    'Planned switchover to a streaming standby: lag-guarded, PgBouncer paused, old primary fenced and rejoined; rolls back before promotion',
  params: clusterParams,
  body: z
    .object({
      candidate: nodeName.describe('the standby to promote'),
      maxLagBytes: z
        .number()
        .int()
        .min(0)
        .max(2 ** 40)
        .optional()
        .describe('refuse when the candidate lags more; default switchover.maxLagBytes'),
      backupAfter: z.boolean().optional().describe('start a full backup of the new primary afterwards; default switchover.backupAfter'),
    })
    .strict(),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started(
      'started: { workflowId, uiUrl, oldPrimary, candidate, candidateLagBytes }',
      startedBody.extend({ oldPrimary: z.string().nullable(), candidate: z.string(), candidateLagBytes: z.number().nullable() }),
    ),
    404: 'unknown cluster or candidate node',
    409: 'another mutating procedure runs on the cluster (named)',
    412: 'a precondition does not hold (not streaming, other timeline, lag above the maximum, archive failing): each named with its values; nothing changed',
    422: 'the candidate is already the primary',
  },
  async handler({ params, body, deps }) {
    clusterOf(deps.config, params.cluster);
    nodeOf(deps.config, params.cluster, body.candidate);
    await ensureNotBusy(deps, params.cluster);
    const input = switchoverInput(
      deps.config,
      params.cluster,
      body.candidate,
      {
        ...(body.maxLagBytes !== undefined ? { maxLagBytes: body.maxLagBytes } : {}),
        ...(body.backupAfter !== undefined ? { backupAfter: body.backupAfter } : {}),
      },
      'api',
    );
    const started = await startJudgedProcedure<typeof switchover, SwitchoverVerdictFacts>(deps, 'switchover', params.cluster, switchover, [
      input,
    ]);
    const f = started.facts;
    return {
      status: 202,
      body: {
        workflowId: started.workflowId,
        uiUrl: started.uiUrl,
        oldPrimary: f.oldPrimary,
        candidate: f.candidate,
        candidateLagBytes: f.candidateLagBytes,
      },
    };
  },
});

export const replicationReportsRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/replication',
  operationId: 'listReplicationReports',
  summary: 'The stored rebuild and switchover reports (timings, pause, rejoined standbys), oldest first',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: {
      description: 'the rebuild and switchover reports, oldest first',
      body: z.object({ cluster: z.string(), rebuilds: z.array(rebuildReport), switchovers: z.array(switchoverReport) }),
    },
    404: 'unknown cluster',
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    const switchovers = await listReports(deps, 'switchovers', params.cluster);
    return { status: 200, body: { cluster: params.cluster, rebuilds: await reportsOfBoth(deps, 'rebuilds', params.cluster), switchovers } };
  },
});
