import type { Command } from 'commander';
import { apiCall, apiTarget } from '../client.js';
import { bytes, printable, printableJson, table } from '../format.js';
import { follow, type Operation } from '../progress.js';

interface BackupRow {
  id: string;
  status: string;
  method: string | null;
  type: string | null;
  parent: string | null;
  startTime: string | null;
  stopTime: string | null;
  startLsn: string | null;
  stopLsn: string | null;
  timeline: number | null;
  bytes: number | null;
}

export function renderBackups(cluster: string, rows: BackupRow[]): string {
  if (rows.length === 0) return `cluster ${cluster}: no backups`;
  return table(
    ['ID', 'STATUS', 'METHOD', 'TYPE', 'PARENT', 'START', 'STOP', 'LSN (start-stop)', 'TL', 'SIZE'],
    rows.map((b) => [b.id, b.status, b.method, b.type, b.parent, b.startTime, b.stopTime, b.startLsn ? `${b.startLsn}-${b.stopLsn}` : null, b.timeline, bytes(b.bytes)]),
  );
}

/** Prints how an operation ended and sets the exit code: 0 completed, 1 refused (lost the cluster lock), 4 failed. */
export function finish(op: Operation, render: (result: unknown) => string): void {
  // A run that lost the cluster lock after its start was answered ends completed, refused.
  const refused = op.result as { refused?: unknown; code?: unknown } | undefined;
  if (op.status === 'COMPLETED' && refused?.code === 'CLUSTER_BUSY' && typeof refused.refused === 'string') {
    console.error(`pgdr: ${op.workflowId} refused: ${printable(refused.refused)}\n  ${op.uiUrl}`);
    process.exitCode = 1;
    return;
  }
  if (op.status === 'COMPLETED') {
    console.log(render(op.result));
    return;
  }
  console.error(`pgdr: ${op.workflowId} ${op.status.toLowerCase()}: ${printable(op.failure?.message ?? '', { keepNewlines: true })}\n  ${op.uiUrl}`);
  process.exitCode = 4;
}

export function backupCommands(program: Command): void {
  program
    .command('backups')
    .description('list the backups in the catalog (S3)')
    .argument('<cluster>')
    .option('--json', 'print the raw answer')
    .action(async (cluster: string, opts: { json?: boolean }) => {
      const res = await apiCall<{ backups: BackupRow[] }>(apiTarget(), 'GET', `/api/v1/clusters/${encodeURIComponent(cluster)}/backups`);
      console.log(opts.json ? printableJson(res) : renderBackups(cluster, res.backups));
    });

  program
    .command('backup')
    .description('take a backup now')
    .argument('<cluster>')
    .option('--type <type>', 'full, diff or incr', 'full')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { type: string; wait?: boolean }) => {
      const target = apiTarget();
      const started = await apiCall<{ workflowId: string; uiUrl: string }>(target, 'POST', `/api/v1/clusters/${encodeURIComponent(cluster)}/backups`, { type: opts.type });
      console.log(`started ${started.workflowId}\n  ${started.uiUrl}`);
      if (!opts.wait) return;
      finish(await follow(target, started.workflowId), (r) => {
        const m = (r as { manifest: { id: string; bytes: number; startLsn: string; stopLsn: string; verification: { detail: string } | null } }).manifest;
        return `backup ${m.id}: ${bytes(m.bytes)}, lsn ${m.startLsn}-${m.stopLsn}, ${m.verification?.detail ?? 'not verified'}`;
      });
    });

  program
    .command('expire')
    .description('apply retention now (keep N fulls and/or a recovery window)')
    .argument('<cluster>')
    .option('--dry-run', 'list what would go, delete nothing')
    .option('--wait', 'follow progress until it ends', false)
    .action(async (cluster: string, opts: { dryRun?: boolean; wait?: boolean }) => {
      const target = apiTarget();
      const started = await apiCall<{ workflowId: string; uiUrl: string }>(target, 'POST', `/api/v1/clusters/${encodeURIComponent(cluster)}/expire`, { dryRun: !!opts.dryRun });
      console.log(`started ${started.workflowId}\n  ${started.uiUrl}`);
      if (!opts.wait && !opts.dryRun) return;
      finish(await follow(target, started.workflowId), (r) => {
        const e = r as { dryRun: boolean; plan: { keep: string[]; expire: { id: string; reason: string }[]; heldByMinWindow?: { id: string; reason: string }[]; walCutoff: string | null }; walObjects: number; walBytes: number };
        const verb = e.dryRun ? 'would expire' : 'expired';
        return [
          `keep: ${e.plan.keep.join(', ') || '(none)'}`,
          ...(e.plan.heldByMinWindow ?? []).map((x) => `kept: ${x.id} (${x.reason})`),
          ...e.plan.expire.map((x) => `${verb}: ${x.id} (${x.reason})`),
          `wal ${verb}: ${e.walObjects} objects, ${bytes(e.walBytes)} (before ${e.plan.walCutoff ?? 'nothing'})`,
        ].join('\n');
      });
    });

  program
    .command('operation')
    .description('show (or --wait for) any pgdr workflow by id')
    .argument('<workflowId>')
    .option('--wait', 'follow progress until it ends')
    .action(async (id: string, opts: { wait?: boolean }) => {
      const target = apiTarget();
      const op = opts.wait ? await follow(target, id) : await apiCall<Operation>(target, 'GET', `/api/v1/operations/${id}`);
      console.log(printableJson(op));
    });
}
