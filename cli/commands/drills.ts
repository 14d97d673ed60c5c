import type { Command } from 'commander';
import { apiCall, apiTarget } from '../client.js';
import { printable, printableJson, table } from '../format.js';
import { follow } from '../progress.js';
import { finish } from './backups.js';
import type { DrillReport } from '../../domain/drill.js';

export function renderDrill(r: DrillReport): string {
  const lines = [`drill ${r.id}: ${r.ok ? 'passed' : 'FAILED'}, RTO ${r.rtoSeconds ?? '-'} s, RPO ${r.rpoSeconds ?? '-'} s`];
  for (const x of r.restores) {
    lines.push(`  backup ${x.backupId} (${x.role}): ${x.restore ? `restored in ${x.restore.seconds.total} s, checks ${x.checksSeconds ?? '-'} s` : `not restored: ${printable(String(x.error))}`}; torn down: ${x.teardown?.removed ? 'yes' : 'no'}`);
    for (const c of x.checks) lines.push(`    ${c.ok ? 'ok  ' : c.severity === 'warning' ? 'warn' : 'FAIL'} ${c.kind} ${printable(String(c.name))}: ${printable(String(c.actual ?? 'none'))}${c.ok ? '' : ` (expected ${printable(String(c.expected))})`}`);
  }
  return lines.join('\n');
}

export function drillCommands(program: Command): void {
  program
    .command('drill')
    .description('run a restore drill now: restore into a scratch instance, check, measure RTO/RPO, tear down')
    .argument('<cluster>')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { wait?: boolean }) => {
      const target = apiTarget();
      const started = await apiCall<{ workflowId: string; uiUrl: string }>(target, 'POST', `/api/v1/clusters/${encodeURIComponent(cluster)}/drills`, {});
      console.log(`started ${started.workflowId}\n  ${started.uiUrl}`);
      if (!opts.wait) return;
      finish(await follow(target, started.workflowId), (r) => renderDrill(r as DrillReport));
    });

  program
    .command('drills')
    .description('the drill history (or one drill with --id)')
    .argument('<cluster>')
    .option('--id <id>', 'show one drill in full')
    .option('--json', 'print the raw answer')
    .action(async (cluster: string, opts: { id?: string; json?: boolean }) => {
      const base = `/api/v1/clusters/${encodeURIComponent(cluster)}/drills`;
      if (opts.id) {
        const r = await apiCall<DrillReport>(apiTarget(), 'GET', `${base}/${encodeURIComponent(opts.id)}`);
        return console.log(opts.json ? printableJson(r) : renderDrill(r));
      }
      const res = await apiCall<{ drills: { id: string; ok: boolean; rtoSeconds: number | null; rpoSeconds: number | null; backups: string[]; failures: string[] }[] }>(apiTarget(), 'GET', base);
      if (opts.json) return console.log(printableJson(res));
      if (res.drills.length === 0) return console.log(`cluster ${cluster}: no drills yet`);
      console.log(table(['ID', 'RESULT', 'RTO (s)', 'RPO (s)', 'BACKUPS', 'FAILURES'], res.drills.map((d) => [d.id, d.ok ? 'passed' : 'FAILED', d.rtoSeconds, d.rpoSeconds, d.backups.join(','), d.failures.join('; ') || null])));
    });
}
