import type { Command } from 'commander';
import { apiCall, apiTarget } from '../client.js';
import { ago, bytes, printable, printableJson, table } from '../format.js';
import { follow } from '../progress.js';
import { finish } from './backups.js';
import type { WalCheckResult, TimelineWindow } from '../../domain/walCheck.js';

export function renderWalCheck(r: WalCheckResult, now = Date.now()): string {
  const a = r.archiver;
  const c = r.continuity;
  const lines = [
    `cluster ${r.cluster}: WAL archive ${r.healthy ? 'HEALTHY' : 'UNHEALTHY'} (checked ${ago(r.checkedAt, now)}, ${r.workflowId})`,
    table(
      ['', ''],
      [
        ['primary', `${r.primary ?? '-'} (timeline ${r.timeline ?? '-'}, archive_mode ${r.archiveMode ?? '-'})`],
        ['last archived', a?.lastArchivedWal ? `${a.lastArchivedWal}, ${ago(a.lastArchivedAt, now)}` : '-'],
        ['failures', a ? `${a.failedCount}${a.lastFailedWal ? `, last ${a.lastFailedWal} ${ago(a.lastFailedAt, now)}` : ''}` : '-'],
        ['round trip', r.roundTrip ? `${r.roundTrip.segment} ${r.roundTrip.ok ? `in S3 after ${r.roundTrip.seconds} s` : 'NOT in S3'}` : 'skipped'],
        ['continuity', c ? `${c.expected} segments from ${c.fromSegment ?? '-'} to ${c.lastSegment ?? '-'}, ${c.missingCount} missing${c.missing[0] ? ` (first ${c.missing[0]})` : ''}` : '-'],
        ['lag (RPO)', r.lag ? `${bytes(r.lag.bytes)}, ${r.lag.segments} segment(s), ${r.lag.seconds} s` : '-'],
      ],
    ),
  ];
  for (const p of r.problems) lines.push(`PROBLEM: ${printable(p)}`);
  for (const w of r.warnings) lines.push(`warning: ${printable(w)}`);
  return lines.join('\n');
}

export function renderWindow(cluster: string, timelines: TimelineWindow[]): string {
  if (timelines.length === 0) return `cluster ${cluster}: no recoverable window known`;
  const point = (p: TimelineWindow['earliest']) => (p ? `${p.time ?? '(time unknown)'} @ ${p.lsn}` : '-');
  return table(
    ['TIMELINE', 'EARLIEST', 'FROM BACKUP', 'LATEST'],
    timelines.map((t) => [t.timeline, point(t.earliest), t.earliest?.backupId ?? '-', point(t.latest)]),
  );
}

export function registerWalCommands(program: Command): void {
  const wal = program.command('wal').description('WAL archive: status and checks (push and fetch are what Postgres runs)');
  wal
    .command('push')
    .description('archive one WAL file: archive_command = pgdr wal push --config F --cluster C %p')
    .allowUnknownOption()
    .helpOption(false);
  wal
    .command('fetch')
    .description('restore one WAL file: restore_command = pgdr wal fetch --config F --cluster C %f %p')
    .allowUnknownOption()
    .helpOption(false);

  wal
    .command('status')
    .description('the newest WAL archive check: health, archiver, round trip, gaps, lag')
    .argument('<cluster>')
    .option('--json', 'print the raw answer')
    .action(async (cluster: string, opts: { json?: boolean }) => {
      const res = await apiCall<WalCheckResult>(apiTarget(), 'GET', `/api/v1/clusters/${encodeURIComponent(cluster)}/wal-archive`);
      console.log(opts.json ? printableJson(res) : renderWalCheck(res));
      if (!res.healthy) process.exitCode = 4;
    });

  wal
    .command('check')
    .description('run the WAL archive check now')
    .argument('<cluster>')
    .option('--skip-round-trip', 'do not force a segment switch')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { skipRoundTrip?: boolean; wait?: boolean }) => {
      const target = apiTarget();
      const started = await apiCall<{ workflowId: string; uiUrl: string }>(target, 'POST', `/api/v1/clusters/${encodeURIComponent(cluster)}/wal-archive/check`, { skipRoundTrip: !!opts.skipRoundTrip });
      console.log(`started ${started.workflowId}\n  ${started.uiUrl}`);
      if (!opts.wait) return;
      const op = await follow(target, started.workflowId);
      if (op.status !== 'COMPLETED') {
        // The stored result says why in full; show it, then fail like any failed operation.
        const stored = await apiCall<WalCheckResult>(target, 'GET', `/api/v1/clusters/${encodeURIComponent(cluster)}/wal-archive`).catch(() => undefined);
        if (stored?.workflowId === started.workflowId) console.log(renderWalCheck(stored));
      }
      finish(op, (r) => renderWalCheck(r as WalCheckResult));
    });

  program
    .command('recovery-window')
    .description('per timeline, the earliest and latest point a restore can reach (as of the newest WAL check)')
    .argument('<cluster>')
    .option('--json', 'print the raw answer')
    .action(async (cluster: string, opts: { json?: boolean }) => {
      const res = await apiCall<{ asOf: string; healthy: boolean; timelines: TimelineWindow[] }>(apiTarget(), 'GET', `/api/v1/clusters/${encodeURIComponent(cluster)}/recovery-window`);
      console.log(opts.json ? printableJson(res) : `as of ${res.asOf}${res.healthy ? '' : ' (archive UNHEALTHY)'}\n${renderWindow(cluster, res.timelines)}`);
    });

  program
    .command('archive')
    .description('WAL archiving setup')
    .command('enable')
    .description('set archive_mode, archive_command (pgdr wal push) and restore_command (pgdr wal fetch) on every node')
    .argument('<cluster>')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { wait?: boolean }) => {
      const target = apiTarget();
      const started = await apiCall<{ workflowId: string; uiUrl: string; archiveCommand: string }>(target, 'POST', `/api/v1/clusters/${encodeURIComponent(cluster)}/archive/enable`, {});
      console.log(`started ${started.workflowId}\n  archive_command = '${started.archiveCommand}'\n  ${started.uiUrl}`);
      if (!opts.wait) return;
      finish(await follow(target, started.workflowId), (r) => {
        const e = r as { nodes: { node: string; role: string; changed: { name: string }[]; error?: string }[]; restartNeeded: string[] };
        const lines = e.nodes.map((n) => `  ${n.node} (${n.role}): ${n.error ? printable(n.error) : (n.changed.length ? `changed ${n.changed.map((c) => c.name).join(', ')}` : 'already set')}`);
        lines.push(e.restartNeeded.length ? `RESTART NEEDED on ${e.restartNeeded.join(', ')}: archive_mode only changes at server start` : 'no restart needed');
        return lines.join('\n');
      });
    });
}
