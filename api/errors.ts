/** Maps pgdr errors and validation failures to HTTP answers: { error: { code, message, ... } }. */
import type { z } from 'zod';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { PgdrError } from '../common/errors.js';
import { describeIssues } from '../config/load.js';
import type { RouteReply } from './routes.js';

const STATUS_BY_CODE: Record<string, number> = {
  UNKNOWN_CLUSTER: 404,
  UNKNOWN_NODE: 404,
  UNKNOWN_SCHEDULE: 404,
  CLUSTER_BUSY: 409,
  PRECONDITION_FAILED: 422,
  NO_BACKUP_SOURCE: 422,
  NO_PRIMARY: 422,
  NO_WAL_CHECK: 404,
  RESTORE_PREFLIGHT_FAILED: 422,
  UNKNOWN_DRILL: 404,
  WAL_CORRUPT: 422,
  BACKUP_CORRUPT: 422,
  NODE_IS_PRIMARY: 422,
  REPLICATION_PRECONDITION_FAILED: 412,
};

export function badRequest(where: 'params' | 'query' | 'body', error: z.ZodError, input: unknown): RouteReply {
  // Fastify names a wildcard path parameter "*"; the only one holds a workflow id.
  const name = (field: string) => (where === 'params' ? field.replace(/^\*$/, 'workflowId') : `${where}.${field}`.replace(/\.\(root\)$/, ''));
  const fields = describeIssues(error, input).map((f) => ({ field: name(f.field), message: f.message }));
  return {
    status: 400,
    body: { error: { code: 'BAD_REQUEST', message: fields.map((f) => `${f.field}: ${f.message}`).join('; '), fields } },
  };
}

export function errorReply(err: unknown): RouteReply {
  if (err instanceof PgdrError) {
    return { status: STATUS_BY_CODE[err.code] ?? 500, body: { error: { code: err.code, message: err.message, ...err.context } } };
  }
  // A read-only workflow the route waited on (a pre-flight) failed on purpose: answer with its
  // pgdr error (code, message, values), not a bare "Workflow execution failed".
  if (err instanceof WorkflowFailedError) {
    let cur: unknown = err.cause;
    while (cur && !(cur instanceof ApplicationFailure && (cur.details?.[0] as { code?: string } | undefined)?.code)) cur = (cur as { cause?: unknown }).cause;
    if (cur instanceof ApplicationFailure) {
      const { code, ...context } = cur.details![0] as { code: string };
      return { status: STATUS_BY_CODE[code] ?? 500, body: { error: { code, message: cur.message, ...context } } };
    }
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } } };
}
