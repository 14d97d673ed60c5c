import type { Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { printable, table } from '../format.js';
import { invocation } from '../output.js';
import { runProcedure, type Started } from '../procedure.js';
import type { DrillReport } from '../../domain/drill.js';
import type { DrillCoverage } from '../../domain/drillCoverage.js';

export function renderCoverage(cluster: string, c: DrillCoverage): string {
  const head = `cluster ${cluster}: ${c.proven} of ${c.backups} good backups proven by a drill in the last ${c.proofWindowDays} days${c.ratio === null ? '' : ` (${(c.ratio * 100).toFixed(0)}%)`}`;
  if (c.rows.length === 0) return head;
  return `${head}\n${table(
    ['BACKUP', 'PROVEN AT', 'BY DRILL'],
    c.rows.map((r) => [r.backupId, r.proof?.provenAt ?? 'unproven', r.proof?.drillId ?? null]),
  )}`;
}

export function renderDrill(r: DrillReport): string {
  const lines = [`drill ${r.id}: ${r.ok ? 'passed' : 'FAILED'}, RTO ${r.rtoSeconds ?? '-'} s, RPO ${r.rpoSeconds ?? '-'} s`];
  for (const x of r.restores) {
    lines.push(
      `  backup ${x.backupId} (${x.role}): ${x.restore ? `restored in ${x.restore.seconds.total} s, checks ${x.checksSeconds ?? '-'} s` : `not restored: ${printable(String(x.error))}`}; torn down: ${x.teardown?.removed ? 'yes' : 'no'}`,
    );
    for (const c of x.checks)
      lines.push(
        `    ${c.ok ? 'ok  ' : c.severity === 'warning' ? 'warn' : 'FAIL'} ${c.kind} ${printable(String(c.name))}: ${printable(String(c.actual ?? 'none'))}${c.ok ? '' : ` (expected ${printable(String(c.expected))})`}`,
      );
  }
  return lines.join('\n');
}

interface DrillRow {
  id: string;
  ok: boolean;
  rtoSeconds: number | null;
  rpoSeconds: number | null;
  backups: string[];
  failures: string[];
}

export function drillCommands(program: Command): void {
  program
    .command('drill')
    .description('run a restore drill now: restore into a scratch instance, check, measure RTO/RPO, tear down')
    .argument('<cluster>')
    .option('--repository <repository>', 'the repository to drill from: primary, secondary (storage.secondary) or auto')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { wait?: boolean; repository?: string }, cmd: Command) => {
      await runProcedure(invocation(cmd), {
        start: (target) =>
          apiCall<Started>(target, 'POST', `${clusterPath(cluster)}/drills`, opts.repository ? { repository: opts.repository } : {}),
        started: (s) => `started ${s.workflowId}\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        result: (r) => renderDrill(r as DrillReport),
      });
    });

  program
    .command('drills')
    .description('the drill history (or one drill with --id, or which backups drills have proven with --coverage)')
    .argument('<cluster>')
    .option('--id <id>', 'show one drill in full')
    .option('--coverage', 'which good backups a drill proved within drill.proofWindowDays')
    .action(async (cluster: string, opts: { id?: string; coverage?: boolean }, cmd: Command) => {
      const inv = invocation(cmd);
      const base = `${clusterPath(cluster)}/drills`;
      if (opts.coverage) {
        const c = await apiCall<DrillCoverage>(inv.target(), 'GET', `${base}/coverage`);
        return inv.print(c, () => renderCoverage(cluster, c));
      }
      if (opts.id) {
        const r = await apiCall<DrillReport>(inv.target(), 'GET', `${base}/${encodeURIComponent(opts.id)}`);
        return inv.print(r, () => renderDrill(r));
      }
      const res = await apiCall<{ drills: DrillRow[] }>(inv.target(), 'GET', base);
      inv.print(res, () =>
        res.drills.length === 0
          ? `cluster ${cluster}: no drills yet`
          : table(
              ['ID', 'RESULT', 'RTO (s)', 'RPO (s)', 'BACKUPS', 'FAILURES'],
              res.drills.map((d) => [
                d.id,
                d.ok ? 'passed' : 'FAILED',
                d.rtoSeconds,
                d.rpoSeconds,
                d.backups.join(','),
                d.failures.join('; ') || null,
              ]),
            ),
      );
    });
}
