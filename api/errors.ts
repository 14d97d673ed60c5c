/** Maps pgdr errors and validation failures to HTTP answers: { error: { code, message, ... } }. */
import type { z } from 'zod';
import { WorkflowFailedError, isGrpcServiceError } from '@temporalio/client';
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
  UNKNOWN_RESTORE: 404,
  RESTORE_DROP_REFUSED: 422,
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

/** gRPC codes that mean the Temporal service could not be reached or did not answer in time. */
const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/** The gRPC error under a Temporal client error, when Temporal was unreachable. */
function temporalUnreachable(err: unknown): Error | undefined {
  for (let e = err as { cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (isGrpcServiceError(e) && (e.code === GRPC_UNAVAILABLE || e.code === GRPC_DEADLINE_EXCEEDED)) return e as Error;
  }
  return undefined;
}

/** temporalAddress names the service in a 503 when Temporal cannot be reached. */
export function errorReply(err: unknown, temporalAddress?: string): RouteReply {
  const grpc = temporalUnreachable(err);
  if (grpc) {
    const where = temporalAddress ? ` at ${temporalAddress}` : '';
    const message = `temporal${where} is unavailable: ${(err as Error).message}: ${grpc.message}\nHINT: nothing was started; retry once Temporal is back (workflows already running continue then)`;
    return { status: 503, body: { error: { code: 'TEMPORAL_UNAVAILABLE', message } } };
  }
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
