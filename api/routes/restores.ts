import { z } from 'zod';
import { pitrRestore, type RestoreVerdictFacts } from '../../workflows/pitrRestore.js';
import { restorePreflight } from '../../workflows/restorePreflight.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { checkRepositoryChoice } from '../../config/repositories.js';
import { absolutePath, type PgdrConfig } from '../../config/schema.js';
import { defaultDestination, restoreInput } from '../../control/inputs.js';
import { isRfc3339, type RestoreRequest, type RestoreTarget } from '../../domain/restore.js';
import { RestoreDropRefusedError, RestorePreflightError, UnknownRestoreError } from '../../domain/errors.js';
import {
  nodeTaskQueue,
  restoreId,
  BACKUP_ID_EXAMPLE,
  BACKUP_ID_PATTERN,
  NAME_FORM,
  NAME_PATTERN,
  RESTORE_ID_EXAMPLE,
  RESTORE_ID_PATTERN,
} from '../../domain/naming.js';
import { isLsn } from '../../domain/lsn.js';
import { restorePointNameProblem, RESTORE_POINT_NAME_FORM } from '../../domain/pgconf.js';
import { timelineRequestProblem, xidProblem, TIMELINE_FORM, XID_FORM, type TimelineRequest } from '../../domain/timelines.js';
import { reportOfEither, reportsOfBoth } from '../secondary.js';
import { nodeDataDirs } from '../../activities/steps/restoredCopies.js';
import { restoredCopies } from '../../workflows/restoredCopies.js';
import { dropRestore } from '../../workflows/dropRestore.js';
import { describeCopy, dropProblemsFromReport } from '../../domain/restoredCopy.js';
import { ensureNotBusy, startJudgedProcedure, startProcedure } from '../../control/procedures.js';
import { clusterName, clusterParams, commonResponses, route, started, startedBody, temporalUnavailable } from '../routeTable.js';
import { repositoryChoice, restoreDestination, restoreReport, timelineChoice } from '../bodies.js';

const restorePlanned = {
  backupId: z.string().describe('the backup the restore starts from'),
  destination: restoreDestination.describe('where the restore really goes: node, data directory and port'),
  lastArchivedCommit: z.object({ lsn: z.string(), time: z.string() }).nullable().describe('the newest commit in the archive'),
  timeline: timelineChoice.describe('the timeline recovery follows, and why'),
  notes: z.array(z.string()).describe('what to know before replay, e.g. that an xid target not placed in time is checked after replay'),
};
const restoreStarted = startedBody.extend({ restoreId: z.string().describe("the restore's id (its report's name)"), ...restorePlanned });
const restoreDryRun = z.object({
  dryRun: z.literal(true),
  preflightWorkflowId: z.string().describe('the read-only pre-flight workflow that judged the request'),
  uiUrl: z.string(),
  ...restorePlanned,
});

const restoredCopy = restoreReport.extend({
  live: z
    .object({
      id: z.string(),
      workflowId: z.string(),
      kind: z.enum(['restore', 'drill']),
      node: z.string(),
      dataDir: z.string(),
      state: z.enum(['running', 'stopped', 'removed', 'unknown']),
      port: z.number(),
      pid: z.number().nullable(),
      note: z.string().nullable(),
      droppable: z.union([z.literal(true), z.string()]).describe('true, or why DELETE would refuse'),
    })
    .describe('the copy as its destination node sees it now'),
});

const TARGET_KINDS = ['time', 'lsn', 'name', 'xid', 'latest', 'immediate'] as const;

/** Date.parse rolls 2026-02-30 over to March 2; a recovery target must name a day that exists. */
function dayExists(rfc3339: string): boolean {
  const [y, m, d] = rfc3339.slice(0, 10).split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d)).getUTCDate() === d;
}

const target = z
  .object({
    time: z
      .string()
      .refine((s) => isRfc3339(s) && dayExists(s), 'expected an RFC 3339 time with an offset, e.g. 2026-11-20T10:15:00.250+01:00')
      .optional()
      .describe('recover to this commit time'),
    lsn: z.string().refine(isLsn, 'expected an LSN like 0/3000060').optional().describe('recover to this WAL location'),
    name: z
      .string()
      .superRefine((s, ctx) => {
        // Exactly the names pg_create_restore_point makes and postgresql.conf can hold; never trimmed.
        const problem = restorePointNameProblem(s);
        if (problem)
          ctx.addIssue({ code: 'custom', message: `expected a restore point name of ${RESTORE_POINT_NAME_FORM}, but ${problem}` });
      })
      .optional()
      .describe(`recover to this restore point (pg_create_restore_point), matched exactly: ${RESTORE_POINT_NAME_FORM}`),
    xid: z
      .union([z.string(), z.number()])
      .superRefine((v, ctx) => {
        const problem = xidProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .transform((v) => String(v))
      .optional()
      .describe(`recover to the end (commit or abort) of this transaction; with inclusive: false, to just before it. ${XID_FORM}`),
    latest: z.literal(true).optional().describe('recover to the newest archived commit'),
    immediate: z.literal(true).optional().describe('stop as soon as the backup is consistent'),
  })
  .strict()
  .refine((t) => TARGET_KINDS.filter((k) => t[k] !== undefined).length === 1, `expected exactly one of ${TARGET_KINDS.join(', ')}`)
  .describe('where recovery stops');

const dataDir = absolutePath.describe(
  "data directory to restore into (inside restore.dir or restore.allowedRoots, or a node's own data directory for an in-place restore); default <restore.dir>/<cluster>-<restoreId>",
);

export const restoreBody = z
  .object({
    target,
    destination: z
      .object({
        node: z
          .string()
          .regex(NAME_PATTERN, `expected a node name from pgdr.yaml: ${NAME_FORM}`)
          .optional()
          .describe('node whose host receives the restore; default restore.node'),
        dataDir: dataDir.optional(),
        port: z
          .number()
          .int()
          .min(1024)
          .max(65535)
          .optional()
          .describe('port of the restored instance; default the first free one in restore.portFrom..portTo'),
      })
      .strict()
      .default({})
      .describe('where the restore goes; default a new directory and a free port on the restore node'),
    action: z.enum(['promote', 'pause']).default('pause').describe('at the target: pause (read-only, for inspection) or promote'),
    backupId: z
      .string()
      .regex(BACKUP_ID_PATTERN, `expected a backup id like ${BACKUP_ID_EXAMPLE}`)
      .optional()
      .describe('restore from this backup instead of the newest one before the target'),
    inclusive: z.boolean().default(true).describe('stop just after the target (true) or just before it'),
    replaceExisting: z
      .boolean()
      .default(false)
      .describe(
        'restore over an existing data directory or running server; the old directory is renamed aside until the restore is proven',
      ),
    confirm: z.string().max(64).optional().describe('the cluster name, required with replaceExisting'),
    timeline: z
      .union([z.number(), z.string()])
      .superRefine((v, ctx) => {
        const problem = timelineRequestProblem(v);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .transform((v) => v as TimelineRequest)
      .optional()
      .describe(
        `recovery_target_timeline: the branch the pre-flight and recovery follow (backup, WAL, window and target judged along its history); ${TIMELINE_FORM}. Absent: the current primary's timeline (the newest in the archive without one). Not with an immediate target`,
      ),
    repository: repositoryChoice,
    tablespaceMap: z
      .record(z.string().min(1).max(64), absolutePath)
      .optional()
      .describe(
        'where tablespaces go, by name or OID, e.g. {"ts_hot": "/srv/restore/ts_hot"}; the others go to <dataDir>_tblspc/<oid>. Never a live tablespace directory',
      ),
  })
  .strict()
  .refine((b) => b.timeline === undefined || b.target.immediate === undefined, {
    message:
      'timeline does not apply to an immediate target (it stops where the backup is consistent); expected no timeline with immediate',
    path: ['timeline'],
  });

/** The restore request a checked body stands for (the API's and `pgdr restore --standalone`'s). */
export function restoreRequest(config: PgdrConfig, cluster: string, body: z.output<typeof restoreBody>, now: Date): RestoreRequest {
  checkRepositoryChoice(config, body.repository);
  return {
    cluster,
    target: body.target as RestoreTarget,
    destination: defaultDestination(config, cluster, restoreId(now), body.destination),
    action: body.action,
    inclusive: body.inclusive,
    replaceExisting: body.replaceExisting,
    ...(body.timeline !== undefined ? { timeline: body.timeline } : {}),
    ...(body.backupId ? { backupId: body.backupId } : {}),
    ...(body.confirm !== undefined ? { confirm: body.confirm } : {}),
    ...(body.tablespaceMap && Object.keys(body.tablespaceMap).length ? { tablespaceMap: body.tablespaceMap } : {}),
    ...(body.repository !== 'primary' ? { repository: body.repository } : {}),
  };
}

export const startRestoreRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/restores',
  operationId: 'startRestore',
  summary:
    'Point-in-time restore: starts pitrRestore and answers once it has planned (backup chosen, destination judged, port claimed) and holds its destination; ?dryRun=true runs only the read-only pre-flight (restorePreflight) and starts nothing',
  params: clusterParams,
  query: z
    .object({
      dryRun: z
        .enum(['true', 'false'])
        .default('false')
        .describe('true: judge the request (the read-only pre-flight) and answer 200 with the plan; nothing is started or claimed'),
    })
    .strict(),
  body: restoreBody,
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    200: {
      description:
        'dry run: { dryRun: true, preflightWorkflowId, uiUrl, backupId, destination, lastArchivedCommit, timeline } (the port is the first free one now, not claimed)',
      body: restoreDryRun,
    },
    202: started(
      'started: { workflowId, uiUrl, restoreId, backupId, destination, lastArchivedCommit, timeline }: what the restore really uses, the port claimed for it',
      restoreStarted,
    ),
    404: 'unknown cluster or node',
    409: 'replaceExisting while another mutating procedure runs on the cluster (CLUSTER_BUSY), or another restore writes into the same directory (DESTINATION_BUSY)',
    422: 'the pre-flight refused: every problem named, with the value and the valid range; nothing was created',
  },
  async handler({ params, query, body, deps }) {
    clusterOf(deps.config, params.cluster);
    if (body.replaceExisting) await ensureNotBusy(deps, params.cluster);
    const request = restoreRequest(deps.config, params.cluster, body, new Date());
    const input = restoreInput(deps.config, request, 'api');
    if (query.dryRun === 'true') {
      // Read-only: its own workflow (it needs the archive and a node agent); claims nothing.
      const pre = await startProcedure(
        deps,
        'restorePreflight',
        params.cluster,
        restorePreflight,
        [{ request, destinationQueue: input.destinationQueue, ...(input.nodes ? { nodes: input.nodes } : {}) }],
        {
          executionTimeout: '5 minutes',
        },
      );
      const outcome = await pre.handle.result();
      if (!outcome.plan) throw new RestorePreflightError(params.cluster, outcome.problems);
      return {
        status: 200,
        body: {
          dryRun: true as const,
          preflightWorkflowId: pre.workflowId,
          uiUrl: pre.uiUrl,
          backupId: outcome.plan.backup.id,
          destination: { ...request.destination, port: outcome.destination.port },
          lastArchivedCommit: outcome.lastCommit,
          timeline: outcome.plan.timeline,
          notes: outcome.plan.notes,
        },
      };
    }
    // The restore judges itself: it answers once it holds its locks (the cluster's with
    // replaceExisting, the destination's) and has planned, or refuses (409, 422) having created
    // nothing. The plan is made once; the 202 names what runs.
    const started = await startJudgedProcedure<typeof pitrRestore, RestoreVerdictFacts>(deps, 'pitrRestore', params.cluster, pitrRestore, [
      input,
    ]);
    const f = started.facts;
    return {
      status: 202,
      body: {
        workflowId: started.workflowId,
        uiUrl: started.uiUrl,
        restoreId: f.restoreId,
        backupId: f.backupId,
        destination: f.destination,
        lastArchivedCommit: f.lastArchivedCommit,
        timeline: f.timeline,
        notes: f.notes ?? [],
      },
    };
  },
});

export const listRestoresRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/restores',
  operationId: 'listRestores',
  summary:
    'The finished restores, oldest first: each stored report (achieved RTO by phase, where recovery stopped) with its copy as the destination node sees it now (live: running, stopped or removed, port, directory), read by the restoredCopies workflow',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    200: {
      description: '{ cluster, workflowId, uiUrl, restores: [report + live: { state, node, dataDir, port, pid, kind, note, droppable }] }',
      body: z.object({
        cluster: z.string(),
        workflowId: z.string().nullable().describe('the restoredCopies workflow that looked at the copies; null when there is no restore'),
        uiUrl: z.string().nullable(),
        restores: z.array(restoredCopy),
      }),
    },
    404: 'unknown cluster',
  },
  async handler({ params, deps }) {
    const cc = clusterOf(deps.config, params.cluster);
    const reports = await reportsOfBoth(deps, 'restores', params.cluster);
    if (reports.length === 0) return { status: 200, body: { cluster: params.cluster, workflowId: null, uiUrl: null, restores: [] } };
    // The API never looks at a node's files: each destination node's agent does, read-only.
    const byNode = new Map<string, string[]>();
    for (const r of reports)
      if (cc.nodes[r.destination.node]) byNode.set(r.destination.node, [...(byNode.get(r.destination.node) ?? []), r.destination.dataDir]);
    const nodes = [...byNode].map(([node, dataDirs]) => ({
      node,
      taskQueue: nodeTaskQueue(params.cluster, node, cc.nodes[node]!.agentQueue),
      dataDirs: [...new Set(dataDirs)],
    }));
    const started = await startProcedure(deps, 'restoredCopies', params.cluster, restoredCopies, [{ cluster: params.cluster, nodes }], {
      executionTimeout: '2 minutes',
    });
    const seen = await started.handle.result();
    const dirs = nodeDataDirs(deps.config, params.cluster);
    const restores = reports.map((r) => {
      const d = r.destination;
      const at = seen.find((n) => n.node === d.node);
      const facts = at?.facts?.find((f) => f.dataDir === d.dataDir);
      return { ...r, live: describeCopy(r, dirs, facts, at ? at.error : `node "${d.node}" is no longer in the config`) };
    });
    return { status: 200, body: { cluster: params.cluster, workflowId: started.workflowId, uiUrl: started.uiUrl, restores } };
  },
});

const restoreParams = z
  .object({
    cluster: clusterName,
    id: z
      .string()
      .regex(RESTORE_ID_PATTERN, `expected a restore id like ${RESTORE_ID_EXAMPLE}`)
      .describe('restore id (from GET .../restores)'),
  })
  .strict();

export const dropRestoreRoute = route({
  method: 'DELETE',
  path: '/api/v1/clusters/:cluster/restores/:id',
  operationId: 'dropRestore',
  summary:
    "Stops (pg_ctl -m fast) and removes the copy a finished restore made, through the dropRestore workflow; only a directory that carries that restore's marker, never a configured node's directory or a restore made in place. Idempotent: a copy already gone answers 200 with alreadyRemoved: true",
  params: restoreParams,
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    200: {
      description: '{ id, restoreWorkflowId, node, dataDir, stopped, removed, alreadyRemoved, dropWorkflowId, uiUrl }',
      body: z.object({
        id: z.string(),
        restoreWorkflowId: z.string(),
        node: z.string(),
        dataDir: z.string(),
        stopped: z.boolean().describe('a server ran in the copy and was stopped'),
        removed: z.boolean().describe('the directory was removed by this drop'),
        alreadyRemoved: z.boolean().describe('nothing was there any more'),
        dropWorkflowId: z.string(),
        uiUrl: z.string(),
      }),
    },
    404: 'unknown cluster, or no finished restore with that id',
    422: "refused, nothing stopped or removed: the restore replaced a directory in place, the directory is (or holds) a configured node's, or it carries no marker of this restore",
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    const report = await reportOfEither(deps, 'restores', params.cluster, params.id);
    if (!report) throw new UnknownRestoreError(params.cluster, params.id);
    const nodeDirs = nodeDataDirs(deps.config, params.cluster);
    const problems = dropProblemsFromReport(report, nodeDirs);
    if (problems.length) throw new RestoreDropRefusedError(params.cluster, params.id, problems);
    const nc = nodeOf(deps.config, params.cluster, report.destination.node);
    const input = {
      cluster: params.cluster,
      report: { id: report.id, workflowId: report.workflowId, destination: report.destination, replaced: report.replaced },
      taskQueue: nodeTaskQueue(params.cluster, report.destination.node, nc.agentQueue),
      nodeDataDirs: nodeDirs,
    };
    const started = await startProcedure(deps, 'dropRestore', params.cluster, dropRestore, [input], { executionTimeout: '10 minutes' });
    const result = await started.handle.result();
    return { status: 200, body: { ...result, uiUrl: started.uiUrl } };
  },
});
