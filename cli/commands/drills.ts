import type { Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { printable, table } from '../format.js';
import { invocation } from '../output.js';
import { runProcedure, type Started } from '../procedure.js';
import type { DrillReport } from '../../domain/drill.js';

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
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { wait?: boolean }, cmd: Command) => {
      await runProcedure(invocation(cmd), {
        start: (target) => apiCall<Started>(target, 'POST', `${clusterPath(cluster)}/drills`, {}),
        started: (s) => `started ${s.workflowId}\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        result: (r) => renderDrill(r as DrillReport),
      });
    });

  program
    .command('drills')
    .description('the drill history (or one drill with --id)')
    .argument('<cluster>')
    .option('--id <id>', 'show one drill in full')
    .action(async (cluster: string, opts: { id?: string }, cmd: Command) => {
      const inv = invocation(cmd);
      const base = `${clusterPath(cluster)}/drills`;
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
