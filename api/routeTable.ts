/**
 * The API's route table. Each route declares its parameters and its answers as zod schemas;
 * validation, the handlers' reply types and the OpenAPI document all come from this one table.
 */
import { z } from 'zod';
import type { ApiDeps } from './deps.js';
import { NAME_FORM, NAME_PATTERN } from '../domain/naming.js';

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  deps: ApiDeps;
  /** Whether the request carried the right token (only matters where auth is false). */
  authenticated: boolean;
}

export interface RouteReply {
  status: number;
  body: unknown;
  /** Default: JSON. */
  contentType?: string;
}

/** The envelope of every error answer: { error: { code, message, ... } }, the code's own values beside. */
export const errorBody = z
  .object({
    error: z
      .looseObject({
        code: z.string().describe('what went wrong, e.g. BAD_REQUEST, UNKNOWN_CLUSTER, CLUSTER_BUSY (the README lists every code)'),
        message: z.string().describe('the problem in plain words, naming the field or thing, the value and the expected form'),
        fields: z
          .array(z.object({ field: z.string(), message: z.string() }))
          .optional()
          .describe('BAD_REQUEST: each invalid field (a path parameter, query.<name> or body.<path>) with what is wrong'),
      })
      .describe("the code's own values (cluster, node, holder, problems, limit, ...) sit beside code and message"),
  })
  .describe("pgdr's error envelope");
export type ErrorBody = z.input<typeof errorBody>;

/**
 * One answer of a route. A bare string is an error answer (the shared envelope) with what it
 * means; any other answer names its body's schema (and its content type, JSON by default).
 */
export type ResponseSpec = string | { description: string; body: z.ZodType; contentType?: string };
export type Responses = Record<number, ResponseSpec>;

/** The bodies a route declares: each answer's schema's type, and the error envelope. */
type BodyOf<R> = R extends unknown ? { [S in keyof R]: BodyOfSpec<R[S]> }[keyof R] : never;
type BodyOfSpec<T> = T extends { body: infer Z extends z.ZodType } ? z.input<Z> : ErrorBody;

/**
 * The replies a handler may give: a body of a type its route declares. (The status is not tied to
 * its body here: a context-sensitive handler's literal statuses widen to number before R is known.)
 */
export interface ReplyOf<R> {
  status: number;
  body: BodyOf<R>;
  contentType?: string;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown, R extends Responses = Responses> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify-style path, e.g. /api/v1/clusters/:cluster/status */
  path: string;
  /** The operation's name in the OpenAPI document (and in generated clients): unique, camelCase. */
  operationId: string;
  /** The name the OpenAPI document gives the path's `*` (a value that may hold slashes, e.g. a workflow id). */
  wildcard?: string;
  summary: string;
  /** false only for /healthz. */
  auth?: boolean;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Every status code the route can answer, with what it means and its body's schema. */
  responses: R;
  handler(ctx: RouteContext<P, Q, B>): Promise<ReplyOf<R>>;
}

/** Helper that keeps P, Q, B and the responses inferred per route. */
export function route<P, Q, B, const R extends Responses>(def: RouteDef<P, Q, B, R>): RouteDef<P, Q, B, R> {
  return def;
}

/** The answer of a route that started a workflow and did not wait for it. */
export const startedBody = z.object({
  workflowId: z.string().describe("the workflow's id: GET /api/v1/operations/{workflowId} follows it"),
  uiUrl: z.string().describe('the workflow in the Temporal UI'),
});

/** A 202 answer whose body is { workflowId, uiUrl }, or that and what the route adds. */
export function started(description: string): { description: string; body: typeof startedBody };
export function started<Z extends z.ZodType>(description: string, body: Z): { description: string; body: Z };
export function started(description: string, body: z.ZodType = startedBody) {
  return { description, body };
}

export const clusterName = z.string().regex(NAME_PATTERN, `expected a cluster name: ${NAME_FORM}`).describe('cluster name from pgdr.yaml');

export const clusterParams = z.object({ cluster: clusterName }).strict();

/** Responses every authenticated route can give. */
export const commonResponses = {
  400: 'a parameter or the body is invalid; the answer names the field, the value and the expected form',
  401: 'missing or wrong bearer token',
  500: 'an unexpected failure (INTERNAL; logged by the API)',
} as const;

/** The answer of a route that talks to Temporal while Temporal cannot be reached. */
export const temporalUnavailable = {
  503: 'Temporal cannot be reached (TEMPORAL_UNAVAILABLE, naming its address); nothing was started',
} as const;

/** What the framework answers for a route with a body before its handler runs. */
export const bodyResponses = {
  413: 'the body is over api.bodyLimitBytes (BODY_TOO_LARGE, naming the limit)',
  415: 'the content type is not application/json (UNSUPPORTED_MEDIA_TYPE)',
} as const;
