import { z } from 'zod';
import { WorkflowFailedError } from '@temporalio/client';
import { WORKFLOW_ID_PATTERN, temporalUiUrl } from '../../domain/naming.js';
import { commonResponses, route } from '../routeTable.js';

/** The innermost cause of a Temporal failure chain, with its type and details. */
function rootCause(err: unknown): { message: string; type: string | null; details: unknown } {
  let cur = err as { message?: string; cause?: unknown; type?: string; details?: unknown } | undefined;
  while (cur?.cause) cur = cur.cause as typeof cur;
  return { message: cur?.message ?? String(err), type: cur?.type ?? null, details: cur?.details ?? null };
}

export const operationRoute = route({
  method: 'GET',
  path: '/api/v1/operations/*',
  summary: 'Progress and result of any pgdr workflow: step (workflow query), heartbeat details of running activities, then result or failure',
  params: z.object({ '*': z.string().regex(WORKFLOW_ID_PATTERN, 'expected a pgdr workflow id like backup/<cluster>/<timestamp>-<nonce>').describe('workflow id') }).strict(),
  query: z.object({}).strict(),
  responses: { ...commonResponses, 200: 'the operation', 404: 'no such workflow' },
  async handler({ params, deps }) {
    const id = params['*'];
    const handle = deps.temporal.workflow.getHandle(id);
    let d;
    try {
      d = await handle.describe();
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return { status: 404, body: { error: { code: 'NOT_FOUND', message: `no workflow ${id}` } } };
      throw err;
    }
    const raw = d.raw.pendingActivities ?? [];
    const activities = raw.map((a) => ({
      type: a.activityType?.name ?? null,
      state: a.state,
      attempt: a.attempt ?? 1,
      heartbeat: a.heartbeatDetails?.payloads?.[0] ? JSON.parse(Buffer.from(a.heartbeatDetails.payloads[0].data ?? []).toString('utf8')) : null,
      lastFailure: a.lastFailure?.message ?? null,
    }));
    const progress = await handle.query<unknown>('progress').catch(() => null);
    const body: Record<string, unknown> = {
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
