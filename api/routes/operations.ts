import { z } from 'zod';
import { WorkflowFailedError } from '@temporalio/client';
import { WORKFLOW_ID_PATTERN, temporalUiUrl } from '../../domain/naming.js';
import { commonResponses, route, temporalUnavailable } from '../routeTable.js';

const operationBody = z.object({
  workflowId: z.string(),
  runId: z.string(),
  type: z.string().describe('the workflow type, e.g. backup, pitrRestore, switchover'),
  status: z.string().describe('RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT or CONTINUED_AS_NEW'),
  startTime: z.string(),
  closeTime: z.string().nullable(),
  uiUrl: z.string(),
  progress: z.unknown().describe("the workflow's progress query (its current step), null when it has none"),
  activities: z.array(
    z.object({
      type: z.string().nullable(),
      state: z.unknown().describe("Temporal's pending activity state"),
      attempt: z.number(),
      heartbeat: z.unknown().describe("the activity's last heartbeat details, null when none"),
      lastFailure: z.string().nullable(),
    }),
  ),
  result: z.unknown().optional().describe("COMPLETED: the workflow's result"),
  failure: z
    .object({ message: z.string(), type: z.string().nullable(), details: z.unknown() })
    .optional()
    .describe('closed without completing: the innermost cause, with its pgdr error type and details'),
});

/** The innermost cause of a Temporal failure chain, with its type and details. */
function rootCause(err: unknown): { message: string; type: string | null; details: unknown } {
  let cur = err as { message?: string; cause?: unknown; type?: string; details?: unknown } | undefined;
  while (cur?.cause) cur = cur.cause as typeof cur;
  return { message: cur?.message ?? String(err), type: cur?.type ?? null, details: cur?.details ?? null };
}

export const operationRoute = route({
  method: 'GET',
  path: '/api/v1/operations/*',
  wildcard: 'workflowId',
  operationId: 'getOperation',
  summary:
    'Progress and result of any pgdr workflow: step (workflow query), heartbeat details of running activities, then result or failure',
  params: z
    .object({
      '*': z
        .string()
        .regex(WORKFLOW_ID_PATTERN, 'expected a pgdr workflow id like backup/<cluster>/<timestamp>-<nonce>')
        .describe('workflow id, e.g. backup/<cluster>/<timestamp>-<nonce>; its slashes may be sent as they are or as %2F'),
    })
    .strict(),
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    200: { description: 'the operation', body: operationBody },
    404: 'no such workflow',
  },
  async handler({ params, deps }) {
    const id = params['*'];
    const handle = deps.temporal.workflow.getHandle(id);
    let d;
    try {
      d = await handle.describe();
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError')
        return { status: 404, body: { error: { code: 'NOT_FOUND', message: `no workflow ${id}` } } };
      throw err;
    }
    const raw = d.raw.pendingActivities ?? [];
    const activities = raw.map((a) => ({
      type: a.activityType?.name ?? null,
      state: a.state,
      attempt: a.attempt ?? 1,
      heartbeat: a.heartbeatDetails?.payloads?.[0]
        ? JSON.parse(Buffer.from(a.heartbeatDetails.payloads[0].data ?? []).toString('utf8'))
        : null,
      lastFailure: a.lastFailure?.message ?? null,
    }));
    const progress = await handle.query<unknown>('progress').catch(() => null);
    const body: z.input<typeof operationBody> = {
      workflowId: id,
      runId: d.runId,
      type: d.type,
      status: d.status.name,
      startTime: d.startTime.toISOString(),
      closeTime: d.closeTime?.toISOString() ?? null,
      uiUrl: temporalUiUrl(deps.config.temporal.uiUrl, deps.config.temporal.namespace, id, d.runId),
      progress,
      activities,
    };
    if (d.status.name === 'COMPLETED') body.result = await handle.result();
    if (d.status.name !== 'RUNNING' && d.status.name !== 'COMPLETED') {
      try {
        await handle.result();
      } catch (err) {
        body.failure = rootCause(err instanceof WorkflowFailedError ? err.cause : err);
      }
    }
    return { status: 200, body };
  },
});
