import { z } from 'zod';
import { walArchiveCheck } from '../../workflows/walArchiveCheck.js';
import { enableArchiving } from '../../workflows/enableArchiving.js';
import { clusterOf } from '../../config/lookup.js';
import { enableArchivingInput, walCheckInput } from '../../control/inputs.js';
import { readWalCheck } from '../../adapters/reportStore.js';
import { ensureNotBusy, startLockedProcedure, startProcedure } from '../../control/procedures.js';
import { clusterParams, commonResponses, route, started, startedBody, temporalUnavailable } from '../routeTable.js';
import { branchWindow, timelineWindow, walCheckResult } from '../bodies.js';
import type { ApiDeps } from '../deps.js';
import type { WalCheckResult } from '../../domain/walCheck.js';
import { NoWalCheckError } from '../../domain/errors.js';

/** The newest stored check of a known cluster; NoWalCheckError (404) before the first. */
async function latestCheck(deps: ApiDeps, cluster: string): Promise<WalCheckResult> {
  clusterOf(deps.config, cluster);
  const result = await readWalCheck(deps, cluster);
  if (!result) throw new NoWalCheckError(cluster);
  return result;
}

export const walStatusRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/wal-archive',
  operationId: 'getWalArchiveCheck',
  summary: 'The newest WAL archive check: healthy or not and why, archiver figures, round trip, continuity (first missing segment), lag',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'the newest stored check result', body: walCheckResult },
    404: 'unknown cluster, or no check has run yet',
  },
  async handler({ params, deps }) {
    return { status: 200, body: await latestCheck(deps, params.cluster) };
  },
});

export const walCheckRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/wal-archive/check',
  operationId: 'startWalArchiveCheck',
  summary: 'Runs walArchiveCheck now; the workflow fails (red in the Temporal UI) when the archive is unhealthy',
  params: clusterParams,
  body: z
    .object({
      skipRoundTrip: z.boolean().default(false).describe('do not force a segment switch'),
      fullListing: z
        .boolean()
        .default(false)
        .describe('list the whole archive and rebuild the index (a check lists only what is new, and in full at least daily)'),
    })
    .strict()
    .default({ skipRoundTrip: false, fullListing: false }),
  responses: { ...commonResponses, ...temporalUnavailable, 202: started('started: { workflowId, uiUrl }'), 404: 'unknown cluster' },
  async handler({ params, body, deps }) {
    clusterOf(deps.config, params.cluster);
    const input = {
      ...walCheckInput(deps.config, params.cluster, 'api'),
      skipRoundTrip: body.skipRoundTrip,
      ...(body.fullListing ? { fullListing: true } : {}),
    };
    const started = await startProcedure(deps, 'walArchiveCheck', params.cluster, walArchiveCheck, [input]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl } };
  },
});

export const recoveryWindowRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/recovery-window',
  operationId: 'getRecoveryWindow',
  summary:
    "Per timeline, the earliest recoverable point (stop of the oldest good backup whose WAL reaches the archive's end; what the restore pre-flight uses) and the latest (last archived commit), as of the newest WAL archive check; retention recomputes the start when it expires backups (windowAsOf)",
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: {
      description: 'the recoverable window per timeline, as of the newest check',
      body: z.object({
        cluster: z.string(),
        asOf: z.string().describe('when the check ran'),
        windowAsOf: z.string().describe('when the window was last computed (retention recomputes it)'),
        checkWorkflowId: z.string(),
        healthy: z.boolean(),
        problems: z.array(z.string()),
        timelines: z
          .array(timelineWindow)
          .describe("the current primary's timeline and its ancestors, as the restore pre-flight follows them by default"),
        branches: z
          .array(branchWindow)
          .describe(
            'every timeline in the archive, each along its own history: what a restore with timeline: N can reach (empty in checks stored before it was recorded)',
          ),
      }),
    },
    404: 'unknown cluster, or no check has run yet',
  },
  async handler({ params, deps }) {
    const result = await latestCheck(deps, params.cluster);
    return {
      status: 200,
      body: {
        cluster: params.cluster,
        asOf: result.checkedAt,
        windowAsOf: result.windowAsOf ?? result.checkedAt,
        checkWorkflowId: result.workflowId,
        healthy: result.healthy,
        problems: result.problems,
        timelines: result.window,
        branches: result.branchWindows ?? [],
      },
    };
  },
});

export const enableArchivingRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/archive/enable',
  operationId: 'enableArchiving',
  summary:
    'Sets archive_mode, archive_command (pgdr wal push) and restore_command (pgdr wal fetch) with ALTER SYSTEM and reloads; says which nodes need a restart',
  params: clusterParams,
  body: z.object({}).strict().default({}),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started(
      'started: { workflowId, uiUrl, archiveCommand, restoreCommand }',
      startedBody.extend({ archiveCommand: z.string(), restoreCommand: z.string() }),
    ),
    404: 'unknown cluster',
    409: 'another mutating procedure runs on the cluster',
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    await ensureNotBusy(deps, params.cluster);
    const input = enableArchivingInput(deps.config, params.cluster);
    const started = await startLockedProcedure(deps, 'enableArchiving', params.cluster, enableArchiving, [input]);
    return {
      status: 202,
      body: {
        workflowId: started.workflowId,
        uiUrl: started.uiUrl,
        archiveCommand: input.archiveCommand,
        restoreCommand: input.restoreCommand,
      },
    };
  },
});
