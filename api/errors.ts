/** Maps pgdr errors and validation failures to HTTP answers: { error: { code, message, ... } }. */
import type { z } from 'zod';
import { WorkflowFailedError, isGrpcServiceError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { PgdrError, errorTable } from '../domain/errors.js';
import { ProcedureRefusedError } from '../control/procedures.js';
import { describeIssues } from '../config/load.js';
import type { RouteReply } from './routeTable.js';

/** The API's status for each pgdr error code, from the error table; a code without one answers 500. */
export const STATUS_BY_CODE: ReadonlyMap<string, number> = new Map(
  errorTable.flatMap((r) => (r.http === null ? [] : [[r.code, r.http] as const])),
);

export function badRequest(where: 'params' | 'query' | 'body', error: z.ZodError, input: unknown): RouteReply {
  // Fastify names a wildcard path parameter "*"; the only one holds a workflow id.
  const name = (field: string) =>
    where === 'params' ? field.replace(/^\*$/, 'workflowId') : `${where}.${field}`.replace(/\.\(root\)$/, '');
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
  if (err instanceof PgdrError || err instanceof ProcedureRefusedError) {
    return { status: STATUS_BY_CODE.get(err.code) ?? 500, body: { error: { code: err.code, message: err.message, ...err.context } } };
  }
  // A read-only workflow the route waited on (a pre-flight) failed on purpose: answer with its
  // pgdr error (code, message, values), not a bare "Workflow execution failed".
  if (err instanceof WorkflowFailedError) {
    let cur: unknown = err.cause;
    while (cur && !(cur instanceof ApplicationFailure && (cur.details?.[0] as { code?: string } | undefined)?.code))
      cur = (cur as { cause?: unknown }).cause;
    if (cur instanceof ApplicationFailure) {
      const { code, ...context } = cur.details![0] as { code: string };
      return { status: STATUS_BY_CODE.get(code) ?? 500, body: { error: { code, message: cur.message, ...context } } };
    }
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) } } };
}

/**
 * The API's own codes, for answers no route handler gives: the request never reached one, or
 * was refused before. Each with its HTTP status, in one table.
 */
export const API_CODES = {
  BAD_REQUEST: 400,
  INVALID_JSON: 400,
  JSON_TOO_DEEP: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BODY_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  INTERNAL: 500,
  TEMPORAL_UNAVAILABLE: 503,
} as const;
export type ApiCode = keyof typeof API_CODES;

/** An answer in pgdr's envelope for one of the API's own codes. */
export function apiError(code: ApiCode, message: string, extra: Record<string, unknown> = {}): RouteReply {
  return { status: API_CODES[code], body: { error: { code, message, ...extra } } };
}

/** Thrown (or passed to a body parser's done) when a request is refused before any handler runs. */
export class RequestRejectedError extends Error {
  constructor(readonly reply: RouteReply) {
    super((reply.body as { error: { message: string } }).error.message);
  }
}

/**
 * Fastify's own rejections (body parsing, URL parsing) in pgdr's envelope. Anything else is a
 * 500 INTERNAL (the caller logs it with its stack).
 */
export function frameworkErrorReply(
  err: { code?: string; statusCode?: number; message: string },
  req: { contentType?: string; bodyLimit: number; path: string },
): RouteReply {
  if (err instanceof RequestRejectedError) return err.reply;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return apiError('BODY_TOO_LARGE', `body: over the limit of ${req.bodyLimit} bytes (api.bodyLimitBytes)`, {
        limitBytes: req.bodyLimit,
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return apiError(
        'UNSUPPORTED_MEDIA_TYPE',
        `body: content-type ${JSON.stringify(req.contentType ?? null)} is not accepted: expected application/json`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return apiError('INVALID_JSON', 'body: empty, but the content-type is application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return apiError('BAD_REQUEST', 'body: its size does not match the content-length header');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return apiError('URI_TOO_LONG', `path: a path parameter is over ${MAX_PARAM_LENGTH} characters`, { limit: MAX_PARAM_LENGTH });
    case 'FST_ERR_BAD_URL':
      return apiError('BAD_REQUEST', `path: ${JSON.stringify(req.path)} is not a valid url (a bad %-escape)`);
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return {
      status: err.statusCode,
      body: { error: { code: 'BAD_REQUEST', message: `request: ${err.message.charAt(0).toLowerCase()}${err.message.slice(1)}` } },
    };
  }
  return apiError('INTERNAL', err.message);
}

/** Fastify's limit on one path parameter (its default, stated so the 414 can name it). */
export const MAX_PARAM_LENGTH = 100;
