import { z } from 'zod';
import { ScheduleNotFoundError } from '@temporalio/client';
import { clusterOf } from '../../config/lookup.js';
import { clusterSchedules } from '../../control/inputs.js';
import { NAME_FORM, NAME_PATTERN, scheduleId } from '../../domain/naming.js';
import { UnknownScheduleError } from '../../domain/errors.js';
import { clusterName, commonResponses, route, temporalUnavailable } from '../routeTable.js';
import type { ApiDeps } from '../deps.js';

const scheduleParams = z
  .object({
    cluster: clusterName,
    name: z.string().regex(NAME_PATTERN, `expected a schedule name from pgdr.yaml: ${NAME_FORM}`),
  })
  .strict();

const noteBody = z
  .object({ note: z.string().max(500).optional().describe('why; shown in the Temporal UI and in pgdr schedules') })
  .strict();

/** The Temporal schedule handle for a configured schedule, or a 404-mapped error. */
const scheduleBody = z.union([
  z
    .object({
      name: z.string(),
      scheduleId: z.string(),
      procedure: z.string(),
      type: z.string(),
      cron: z.string(),
      timezone: z.string(),
      paused: z.boolean(),
      note: z.string().nullable(),
      nextActionTimes: z.array(z.string()),
      recentActions: z.array(z.object({ scheduledAt: z.string(), takenAt: z.string(), workflowId: z.string() })),
      running: z.array(z.string()).describe('workflow ids of its runs still running'),
    })
    .describe('a schedule as Temporal has it'),
  z
    .object({ name: z.string(), scheduleId: z.string(), type: z.string(), cron: z.string(), missing: z.boolean(), hint: z.string() })
    .describe('a configured schedule Temporal does not have yet'),
]);

function configured(deps: ApiDeps, cluster: string, name: string) {
  clusterOf(deps.config, cluster);
  const all = clusterSchedules(deps.config, cluster);
  const s = all.find((x) => x.name === name);
  if (!s)
    throw new UnknownScheduleError(
      cluster,
      name,
      all.map((x) => x.name),
    );
  return s;
}

function scheduleHandle(deps: ApiDeps, cluster: string, name: string) {
  configured(deps, cluster, name);
  return deps.temporal.schedule.getHandle(scheduleId(cluster, name));
}

async function describeSchedule(deps: ApiDeps, cluster: string, name: string) {
  const s = configured(deps, cluster, name);
  try {
    const d = await scheduleHandle(deps, cluster, name).describe();
    return {
      name,
      scheduleId: d.scheduleId,
      procedure: s.procedure,
      type: s.type,
      cron: s.cron,
      timezone: deps.config.clusters[cluster]!.backup.timezone,
      paused: d.state.paused,
      note: d.state.note ?? null,
      nextActionTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
      recentActions: d.info.recentActions.slice(-5).map((a) => ({
        scheduledAt: a.scheduledAt.toISOString(),
        takenAt: a.takenAt.toISOString(),
        workflowId: a.action.workflow.workflowId,
      })),
      running: d.info.runningActions.map((a) => a.workflow.workflowId),
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError)
      return {
        name,
        scheduleId: scheduleId(cluster, name),
        type: s.type,
        cron: s.cron,
        missing: true,
        hint: 'not created yet: is the control worker running?',
      };
    throw err;
  }
}

export const listSchedulesRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/schedules',
  operationId: 'listSchedules',
  summary: "The cluster's schedules (backups and the WAL archive check): cron, paused state and note, next run times, recent runs",
  params: z.object({ cluster: clusterName }).strict(),
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    200: { description: 'the schedules', body: z.object({ cluster: z.string(), schedules: z.array(scheduleBody) }) },
    404: 'unknown cluster',
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    const schedules = await Promise.all(
      clusterSchedules(deps.config, params.cluster).map((s) => describeSchedule(deps, params.cluster, s.name)),
    );
    return { status: 200, body: { cluster: params.cluster, schedules } };
  },
});

function scheduleAction(action: 'pause' | 'unpause' | 'trigger', summary: string) {
  const done = { description: 'done; the schedule as it is now', body: scheduleBody };
  const others = { ...commonResponses, ...temporalUnavailable, 404: 'unknown cluster or schedule' } as const;
  return route({
    method: 'POST',
    path: `/api/v1/clusters/:cluster/schedules/:name/${action}`,
    operationId: `${action}Schedule`,
    summary,
    params: scheduleParams,
    body: noteBody,
    responses: action === 'trigger' ? { ...others, 202: done } : { ...others, 200: done },
    async handler({ params, body, deps }) {
      const handle = scheduleHandle(deps, params.cluster, params.name);
      const note = body.note ?? `${action}d through the pgdr API`;
      if (action === 'pause') await handle.pause(note);
      if (action === 'unpause') await handle.unpause(note);
      if (action === 'trigger') await handle.trigger();
      return { status: action === 'trigger' ? 202 : 200, body: await describeSchedule(deps, params.cluster, params.name) };
    },
  });
}

export const pauseScheduleRoute = scheduleAction('pause', 'Pauses a schedule, with a note saying why');
export const unpauseScheduleRoute = scheduleAction('unpause', 'Unpauses a schedule, with a note');
export const triggerScheduleRoute = scheduleAction('trigger', "Runs a schedule's backup now (overlap policy SKIP still applies)");
