/**
 * The pgdr HTTP API. It records intent: validate, check preconditions, start a workflow with
 * a deterministic id, answer. Every route except /healthz needs the bearer token.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { ApiDeps } from './deps.js';
import { tokenMatches } from './auth.js';
import { badRequest, errorReply } from './errors.js';
import { openApiDocument } from './openapi.js';
import { route, type RouteDef, commonResponses } from './routes.js';
import { statusRoute } from './routes/status.js';
import { healthRoute } from './routes/health.js';
import { listBackupsRoute, startBackupRoute } from './routes/backups.js';
import { expireRoute } from './routes/expire.js';
import { operationRoute } from './routes/operations.js';
import { enableArchivingRoute, recoveryWindowRoute, walCheckRoute, walStatusRoute } from './routes/wal.js';
import { metricsRoute } from './routes/metrics.js';
import { dropRestoreRoute, listRestoresRoute, startRestoreRoute } from './routes/restores.js';
import { drillPageRoute, drillReportRoute, listDrillsRoute, startDrillRoute } from './routes/drills.js';
import { rebuildRoute, replicationReportsRoute, switchoverRoute } from './routes/replication.js';
import { listSchedulesRoute, pauseScheduleRoute, triggerScheduleRoute, unpauseScheduleRoute } from './routes/schedules.js';

export const API_VERSION = '0.1.0';

const openApiRoute = route({
  method: 'GET',
  path: '/openapi.json',
  summary: 'This API\'s OpenAPI 3.1 document',
  responses: { 200: 'the document', 401: commonResponses[401] },
  async handler() {
    return { status: 200, body: openApiDocument(allRoutes, API_VERSION) };
  },
});

export const allRoutes: RouteDef[] = [healthRoute, openApiRoute, statusRoute, listBackupsRoute, startBackupRoute, expireRoute, operationRoute, listSchedulesRoute, pauseScheduleRoute, unpauseScheduleRoute, triggerScheduleRoute, walStatusRoute, walCheckRoute, recoveryWindowRoute, enableArchivingRoute, metricsRoute, startRestoreRoute, listRestoresRoute, dropRestoreRoute, startDrillRoute, listDrillsRoute, drillPageRoute, drillReportRoute, rebuildRoute, switchoverRoute, replicationReportsRoute] as RouteDef[];

export function buildServer(deps: ApiDeps, opts: { logger?: boolean } = {}): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: deps.config.api.bodyLimitBytes });

  app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
    // Fastify's own rejections (malformed JSON, body too large, wrong content type).
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.status(status).send({ error: { code: status === 500 ? 'INTERNAL' : (err.code ?? 'BAD_REQUEST'), message: `body: ${err.message.toLowerCase()}` } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  for (const r of allRoutes) {
    app.route({
      method: r.method,
      url: r.path,
      handler: async (req, reply) => {
        const authenticated = tokenMatches(req.headers.authorization, deps.token);
        if (r.auth !== false && !authenticated) {
          return reply.status(401).header('www-authenticate', 'Bearer').send({ error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } });
        }
        const parts = [
          ['params', r.params, req.params ?? {}],
          ['query', r.query, req.query ?? {}],
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
