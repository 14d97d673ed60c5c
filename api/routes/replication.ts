/**
 * Replica rebuild and planned switchover. Both check the cluster first (the read-only
 * clusterStatus workflow and the last WAL archive check) and answer 412/422 with the numbers
 * before anything starts; the workflows judge again inside the cluster lock.
 */
import { z } from 'zod';
import { clusterStatus } from '../../workflows/clusterStatus.js';
import { replicaRebuild } from '../../workflows/replicaRebuild.js';
import { switchover } from '../../workflows/switchover.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { nodeQueues, rebuildInput, switchoverInput } from '../../control/inputs.js';
import { judgeRebuild, judgeSwitchover, type Verdict } from '../../domain/replication.js';
import { NodeIsPrimaryError, ReplicationPreconditionError } from '../../domain/errors.js';
import type { ClusterStatus } from '../../domain/status.js';
import { listReplicationReports, readWalCheck } from '../../adapters/reportStore.js';
import { ensureNotBusy, startLockedProcedure, startProcedure } from '../../control/procedures.js';
import type { ApiDeps } from '../deps.js';
import { clusterName, clusterParams, commonResponses, route, started, startedBody, temporalUnavailable } from '../routeTable.js';
import { rebuildReport, switchoverReport } from '../bodies.js';
import { NAME_FORM, NAME_PATTERN } from '../../domain/naming.js';

const nodeName = z.string().regex(NAME_PATTERN, `expected a node name from pgdr.yaml: ${NAME_FORM}`);

async function currentStatus(deps: ApiDeps, cluster: string): Promise<{ status: ClusterStatus; workflowId: string }> {
  const started = await startProcedure(deps, 'clusterStatus', cluster, clusterStatus, [{ cluster, nodes: nodeQueues(deps.config, cluster) }], { executionTimeout: '2 minutes' });
  return { status: await started.handle.result(), workflowId: started.workflowId };
}

function refuse(cluster: string, node: string, procedure: string, v: Verdict): void {
  if (v.invalid.length) throw new NodeIsPrimaryError(cluster, node, v.invalid.join('; '));
  if (v.unmet.length) throw new ReplicationPreconditionError(cluster, procedure, v.unmet);
}

export const rebuildRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/nodes/:node/rebuild',
  operationId: 'rebuildReplica',
  summary: 'Rebuild a standby from the primary or the newest backup; its old data directory is kept until the new copy streams',
  params: z.object({ cluster: clusterName, node: nodeName }).strict(),
  body: z
    .object({ source: z.enum(['primary', 'backup']).default('primary').describe('clone the primary (pg_basebackup), or restore the newest good backup and catch up from the archive') })
    .strict()
    .default({ source: 'primary' }),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started(
      'started: { workflowId, uiUrl, node, primary, source }',
      startedBody.extend({
        node: z.string(),
        primary: z.string().nullable().describe('the primary the standby will stream from'),
        source: z.enum(['primary', 'backup']),
      }),
    ),
    404: 'unknown cluster or node',
    409: 'another mutating procedure runs on the cluster (named)',
    412: 'the cluster has no reachable primary to rebuild from',
    422: 'the node is the primary',
  },
  async handler({ params, body, deps }) {
    nodeOf(deps.config, params.cluster, params.node);
    await ensureNotBusy(deps, params.cluster);
    const { status } = await currentStatus(deps, params.cluster);
    const verdict = judgeRebuild(status, params.node);
    refuse(params.cluster, params.node, 'rebuild', verdict);
    const started = await startLockedProcedure(deps, 'replicaRebuild', params.cluster, replicaRebuild, [rebuildInput(deps.config, params.cluster, params.node, body.source, 'api')]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl, node: params.node, primary: verdict.primary, source: body.source } };
  },
});

export const switchoverRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/switchover',
  operationId: 'switchover',
  summary: 'Planned switchover to a streaming standby: lag-guarded, PgBouncer paused, old primary fenced and rejoined; rolls back before promotion',
  params: clusterParams,
  body: z
    .object({
      candidate: nodeName.describe('the standby to promote'),
      maxLagBytes: z.number().int().min(0).max(2 ** 40).optional().describe('refuse when the candidate lags more; default switchover.maxLagBytes'),
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
    const input = switchoverInput(deps.config, params.cluster, body.candidate, { ...(body.maxLagBytes !== undefined ? { maxLagBytes: body.maxLagBytes } : {}), ...(body.backupAfter !== undefined ? { backupAfter: body.backupAfter } : {}) }, 'api');
    const [{ status }, lastCheck] = await Promise.all([currentStatus(deps, params.cluster), readWalCheck(deps, params.cluster)]);
    const verdict = judgeSwitchover(status, body.candidate, input.maxLagBytes, lastCheck ?? null, new Date());
    refuse(params.cluster, body.candidate, 'switchover', verdict);
    const started = await startLockedProcedure(deps, 'switchover', params.cluster, switchover, [input]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl, oldPrimary: verdict.primary, candidate: body.candidate, candidateLagBytes: verdict.facts.candidateLagBytes } };
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
    return { status: 200, body: { cluster: params.cluster, ...(await listReplicationReports(deps, params.cluster)) } };
  },
});
