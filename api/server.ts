/**
 * The pgdr HTTP API. It records intent: validate, check preconditions, start a workflow with
 * a deterministic id, answer. Every route except /healthz needs the bearer token.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { z } from 'zod';
import type { ApiDeps } from './deps.js';
import { tokenMatches } from './auth.js';
import { apiError, badRequest, errorReply, frameworkErrorReply, MAX_PARAM_LENGTH } from './errors.js';
import { installJsonParser } from './json.js';
import { clientErrorHandler, logSerializers, methodsAt, pathOf } from './framework.js';
import { configuredServer, openApiDocument } from './openapi.js';
import { route, type RouteDef, commonResponses } from './routeTable.js';
import { statusRoute } from './routes/status.js';
import { healthRoute } from './routes/health.js';
import { listBackupsRoute, startBackupRoute } from './routes/backups.js';
import { listCopiesRoute, startCopyRoute } from './routes/copies.js';
import { expireRoute } from './routes/expire.js';
import { operationRoute } from './routes/operations.js';
import { enableArchivingRoute, recoveryWindowRoute, walCheckRoute, walStatusRoute } from './routes/wal.js';
import { metricsRoute } from './routes/metrics.js';
import { dropRestoreRoute, listRestoresRoute, startRestoreRoute } from './routes/restores.js';
import { drillCoverageRoute, drillPageRoute, drillReportRoute, listDrillsRoute, startDrillRoute } from './routes/drills.js';
import { rebuildRoute, replicationReportsRoute, switchoverRoute } from './routes/replication.js';
import { listSchedulesRoute, pauseScheduleRoute, triggerScheduleRoute, unpauseScheduleRoute } from './routes/schedules.js';

export const API_VERSION = '0.1.0';

const openApiRoute = route({
  method: 'GET',
  path: '/openapi.json',
  operationId: 'getOpenApiDocument',
  summary: "This API's OpenAPI 3.1 document",
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'the document', body: z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }) },
  },
  async handler({ deps }) {
    return { status: 200, body: openApiDocument(allRoutes, API_VERSION, [configuredServer(deps.config.api.host, deps.config.api.port)]) };
  },
});

export const allRoutes: RouteDef[] = [
  healthRoute,
  openApiRoute,
  statusRoute,
  listBackupsRoute,
  startCopyRoute,
  listCopiesRoute,
  startBackupRoute,
  expireRoute,
  operationRoute,
  listSchedulesRoute,
  pauseScheduleRoute,
  unpauseScheduleRoute,
  triggerScheduleRoute,
  walStatusRoute,
  walCheckRoute,
  recoveryWindowRoute,
  enableArchivingRoute,
  metricsRoute,
  startRestoreRoute,
  listRestoresRoute,
  dropRestoreRoute,
  startDrillRoute,
  listDrillsRoute,
  drillPageRoute,
  drillCoverageRoute,
  drillReportRoute,
  rebuildRoute,
  switchoverRoute,
  replicationReportsRoute,
] as unknown as RouteDef[];

/** Routes without a query schema accept no query parameters: none is ever ignored silently. */
const noQuery = z.object({}).strict();

export function buildServer(deps: ApiDeps, opts: { logger?: boolean } = {}): FastifyInstance {
  const bodyLimit = deps.config.api.bodyLimitBytes;
  const app = Fastify({
    logger: opts.logger ? { serializers: logSerializers } : false,
    bodyLimit,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler,
    // Errors Fastify meets before routing (a bad %-escape, a path parameter over the limit).
    frameworkErrors: (err, req, reply: FastifyReply) => {
      const out = frameworkErrorReply(err, { bodyLimit, path: pathOf(req.url) });
      void reply.status(out.status).send(out.body);
    },
  });
  installJsonParser(app);

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
    // Fastify's own rejections (malformed or too deep JSON, body too large, wrong content type).
    const out = frameworkErrorReply(err, { bodyLimit, path: pathOf(req.url), contentType: req.headers['content-type'] });
    if (out.status >= 500) req.log.error({ err }, 'internal error');
    void reply.status(out.status).send(out.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = pathOf(req.url);
    const allowed = methodsAt(allRoutes, path);
    if (allowed.length > 0) {
      const allow = [...new Set(allowed.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])))].join(', ');
      const out = apiError('METHOD_NOT_ALLOWED', `no route ${req.method} ${path}: it answers ${allow}`, { allowed: allow });
      return reply.status(out.status).header('allow', allow).send(out.body);
    }
    const out = apiError('NOT_FOUND', `no route ${req.method} ${path}`);
    return reply.status(out.status).send(out.body);
  });

  for (const r of allRoutes) {
    app.route({
      method: r.method,
      url: r.path,
      // The token is checked before the body is read: an anonymous caller gets nothing parsed.
      onRequest: async (req, reply) => {
        if (r.auth === false || tokenMatches(req.headers.authorization, deps.token)) return;
        const out = apiError('UNAUTHORIZED', 'missing or wrong bearer token');
        return reply.status(out.status).header('www-authenticate', 'Bearer').send(out.body);
      },
      handler: async (req, reply) => {
        const authenticated = tokenMatches(req.headers.authorization, deps.token);
        const parts = [
          ['params', r.params, req.params ?? {}],
          ['query', r.query ?? noQuery, req.query ?? {}],
          ['body', r.body, req.body],
        ] as const;
        const parsed: Record<string, unknown> = {};
        for (const [where, schema, input] of parts) {
          if (!schema) continue;
          const res = schema.safeParse(input);
          if (!res.success) {
            const bad = badRequest(where, res.error, input);
            return reply.status(bad.status).send(bad.body);
          }
          parsed[where] = res.data;
        }
        try {
          const out = await r.handler({ params: parsed.params, query: parsed.query, body: parsed.body, deps, authenticated });
          if (out.contentType) void reply.header('content-type', out.contentType);
          return reply.status(out.status).send(out.body);
        } catch (err) {
          const out = errorReply(err, deps.config.temporal.address);
          if (out.status >= 500) req.log.error(err);
          return reply.status(out.status).send(out.body);
        }
      },
    });
  }
  return app;
}
