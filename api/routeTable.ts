/**
 * The API's route table. Each route declares its parameters as zod schemas and documents its
 * status codes; validation and the OpenAPI document both come from this one table.
 */
import { z } from 'zod';
import type { ApiDeps } from './deps.js';

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

export interface RouteDef<P = unknown, Q = unknown, B = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify-style path, e.g. /api/v1/clusters/:cluster/status */
  path: string;
  summary: string;
  /** false only for /healthz. */
  auth?: boolean;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** Every status code the handler can answer, with what it means. */
  responses: Record<number, string>;
  handler(ctx: RouteContext<P, Q, B>): Promise<RouteReply>;
}

/** Helper that keeps P, Q and B inferred per route. */
export function route<P, Q, B>(def: RouteDef<P, Q, B>): RouteDef<P, Q, B> {
  return def;
}

export const clusterName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,39}$/, 'expected a cluster name: 1-40 chars, lowercase letters, digits, "-" or "_", starting with a letter')
  .describe('cluster name from pgdr.yaml');

export const clusterParams = z.object({ cluster: clusterName }).strict();

/** Responses every authenticated route can give. */
export const commonResponses = {
  400: 'a parameter or the body is invalid; the answer names the field, the value and the expected form',
  401: 'missing or wrong bearer token',
} as const;
