import { z } from 'zod';
import { restoreDrill } from '../../workflows/restoreDrill.js';
import { clusterOf } from '../../config/lookup.js';
import { drillInput } from '../../control/inputs.js';
import { clusterDrillCoverage } from '../../adapters/reportStore.js';
import { reportOfEither, reportsOfBoth } from '../secondary.js';
import type { DrillCoverage } from '../../domain/drillCoverage.js';
import { UnknownDrillError } from '../../domain/errors.js';
import type { DrillReport } from '../../domain/drill.js';
import { startProcedure } from '../../control/procedures.js';
import { clusterName, clusterParams, commonResponses, route, started, temporalUnavailable } from '../routeTable.js';
import { drillCoverage, drillReport, repositoryChoice } from '../bodies.js';
import { checkRepositoryChoice } from '../../config/repositories.js';

const drillSummary = drillReport
  .pick({ id: true, ok: true, startedAt: true, finishedAt: true, rtoSeconds: true, rpoSeconds: true, failures: true, workflowId: true })
  .extend({ backups: z.array(z.string()).describe('the backups the drill restored') });
import { RESTORE_ID_EXAMPLE, RESTORE_ID_PATTERN } from '../../domain/naming.js';

export const startDrillRoute = route({
  method: 'POST',
  path: '/api/v1/clusters/:cluster/drills',
  operationId: 'startDrill',
  summary:
    'Runs a restore drill now: restore into a scratch instance, check, measure RTO/RPO, tear down; the workflow fails when a check fails',
  params: clusterParams,
  body: z.object({ repository: repositoryChoice }).strict().default({ repository: 'primary' }),
  responses: {
    ...commonResponses,
    ...temporalUnavailable,
    202: started('started: { workflowId, uiUrl }'),
    404: 'unknown cluster',
    422: 'repository secondary without storage.secondary (REPOSITORY_NOT_CONFIGURED)',
  },
  async handler({ params, body, deps }) {
    clusterOf(deps.config, params.cluster);
    checkRepositoryChoice(deps.config, body.repository);
    const started = await startProcedure(deps, 'restoreDrill', params.cluster, restoreDrill, [
      drillInput(deps.config, params.cluster, 'api', body.repository),
    ]);
    return { status: 202, body: { workflowId: started.workflowId, uiUrl: started.uiUrl } };
  },
});

/** The figures of one drill for lists and the page. */
function summary(r: DrillReport) {
  return {
    id: r.id,
    ok: r.ok,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    rtoSeconds: r.rtoSeconds,
    rpoSeconds: r.rpoSeconds,
    backups: r.restores.map((x) => x.backupId),
    failures: r.failures,
    workflowId: r.workflowId,
  };
}

export const listDrillsRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/drills',
  operationId: 'listDrills',
  summary: 'The drill history, oldest first: passed or not, RTO, RPO, failures',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'the drills, oldest first', body: z.object({ cluster: z.string(), drills: z.array(drillSummary) }) },
    404: 'unknown cluster',
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    return { status: 200, body: { cluster: params.cluster, drills: (await reportsOfBoth(deps, 'drills', params.cluster)).map(summary) } };
  },
});

export const drillCoverageRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/drills/coverage',
  operationId: 'getDrillCoverage',
  summary: 'Which good backups a drill proved within drill.proofWindowDays, and the share of the catalog that is',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'coverage of the good backups, oldest first', body: drillCoverage },
    404: 'unknown cluster',
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    return { status: 200, body: await clusterDrillCoverage(deps, params.cluster) };
  },
});

export const drillReportRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/drills/:id',
  operationId: 'getDrillReport',
  summary: 'One drill report: every check with its actual and expected value, the restore phases, teardown',
  params: z
    .object({
      cluster: clusterName,
      id: z.string().regex(RESTORE_ID_PATTERN, `expected a drill id like ${RESTORE_ID_EXAMPLE}`).describe('drill id'),
    })
    .strict(),
  query: z.object({}).strict(),
  responses: { ...commonResponses, 200: { description: 'the drill report', body: drillReport }, 404: 'unknown cluster or drill' },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    const report = await reportOfEither(deps, 'drills', params.cluster, params.id);
    if (!report) throw new UnknownDrillError(params.cluster, params.id);
    return { status: 200, body: report };
  },
});

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A readable page: coverage, the drill history and RTO over time as an inline SVG (no scripts, no external assets). */
export function drillPage(cluster: string, drills: DrillReport[], coverage: DrillCoverage): string {
  const points = drills.filter((d) => d.rtoSeconds !== null);
  const w = 640;
  const h = 200;
  const max = Math.max(1, ...points.map((d) => d.rtoSeconds!));
  const x = (i: number) => (points.length <= 1 ? w / 2 : 40 + (i * (w - 60)) / (points.length - 1));
  const y = (v: number) => h - 25 - (v / max) * (h - 45);
  const line = points.map((d, i) => `${x(i).toFixed(1)},${y(d.rtoSeconds!).toFixed(1)}`).join(' ');
  const dots = points
    .map(
      (d, i) =>
        `<circle cx="${x(i).toFixed(1)}" cy="${y(d.rtoSeconds!).toFixed(1)}" r="4" fill="${d.ok ? '#2a7' : '#c33'}"><title>${esc(d.id)}: ${d.rtoSeconds} s</title></circle>`,
    )
    .join('');
  const rows = [...drills]
    .reverse()
    .map(
      (d) =>
        `<tr><td>${esc(d.id)}</td><td class="${d.ok ? 'ok' : 'bad'}">${d.ok ? 'passed' : 'FAILED'}</td><td>${esc(d.rtoSeconds)}</td><td>${esc(d.rpoSeconds)}</td><td>${esc(d.restores.map((r) => r.backupId).join(', '))}</td><td>${esc(d.failures.join('; '))}</td></tr>`,
    );
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pgdr drills: ${esc(cluster)}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.ok{color:#2a7}.bad{color:#c33;font-weight:bold}</style></head>
<body><h1>Restore drills of cluster ${esc(cluster)}</h1>
${coverageSection(coverage)}
<h2>RTO over time (seconds)</h2>
<svg width="${w}" height="${h}" role="img" aria-label="RTO of each drill"><line x1="35" y1="${h - 25}" x2="${w - 10}" y2="${h - 25}" stroke="#999"/><line x1="35" y1="10" x2="35" y2="${h - 25}" stroke="#999"/><text x="2" y="18" font-size="11">${max.toFixed(0)} s</text><text x="20" y="${h - 28}" font-size="11">0</text><polyline fill="none" stroke="#36c" stroke-width="2" points="${line}"/>${dots}</svg>
<h2>History (${drills.length})</h2>
<table><tr><th>drill</th><th>result</th><th>RTO (s)</th><th>RPO (s)</th><th>backups</th><th>failures</th></tr>${rows.join('')}</table>
</body></html>
`;
}

function coverageSection(c: DrillCoverage): string {
  const pct = c.ratio === null ? 'no backup yet' : `${(c.ratio * 100).toFixed(0)}%`;
  const rows = c.rows.map(
    (r) =>
      `<tr><td>${esc(r.backupId)}</td><td class="${r.proof ? 'ok' : 'bad'}">${r.proof ? `proven ${esc(r.proof.provenAt)} by ${esc(r.proof.drillId)}` : 'unproven'}</td></tr>`,
  );
  return `<h2>Coverage: ${c.proven} of ${c.backups} good backups proven in the last ${c.proofWindowDays} days (${pct})</h2>
<table><tr><th>backup</th><th>proof</th></tr>${rows.join('')}</table>`;
}

export const drillPageRoute = route({
  method: 'GET',
  path: '/api/v1/clusters/:cluster/drills/report.html',
  operationId: 'getDrillPage',
  summary: 'A readable page with drill coverage, the drill history and a chart of RTO over time',
  params: clusterParams,
  query: z.object({}).strict(),
  responses: {
    ...commonResponses,
    200: { description: 'the page (no scripts, no external assets)', body: z.string(), contentType: 'text/html; charset=utf-8' },
    404: 'unknown cluster',
  },
  async handler({ params, deps }) {
    clusterOf(deps.config, params.cluster);
    const [drills, coverage] = await Promise.all([
      reportsOfBoth(deps, 'drills', params.cluster),
      clusterDrillCoverage(deps, params.cluster),
    ]);
    return {
      status: 200,
      body: drillPage(params.cluster, drills, coverage),
      contentType: 'text/html; charset=utf-8',
    };
  },
});
