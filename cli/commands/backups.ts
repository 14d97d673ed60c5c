import type { Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { bytes, printable, printableJson, table } from '../format.js';
import { finish, invocation } from '../output.js';
import { runProcedure, type Started } from '../procedure.js';
import { follow, progressLine, type Operation } from '../progress.js';

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
  /** Absent from APIs older than repositories. */
  repositories?: string[];
}

interface BackupList {
  repository?: string;
  backups: BackupRow[];
  other?: { repository: string; reachable: boolean; detail: string | null } | null;
}

export function renderBackups(cluster: string, rows: BackupRow[], list: Omit<BackupList, 'backups'> = {}): string {
  const where = list.repository && list.repository !== 'primary' ? ` in the ${list.repository} repository` : '';
  const other =
    list.other && !list.other.reachable ? `\nnote: the ${list.other.repository} repository did not answer: ${list.other.detail}` : '';
  if (rows.length === 0) return `cluster ${cluster}: no backups${where}${other}`;
  const withRepos = rows.some((b) => b.repositories !== undefined) && list.other !== null;
  return (
    table(
      [
        'ID',
        'STATUS',
        'METHOD',
        'TYPE',
        'PARENT',
        'START',
        'STOP',
        'LSN (start-stop)',
        'TL',
        'SIZE',
        ...(withRepos ? ['REPOSITORIES'] : []),
      ],
      rows.map((b) => [
        b.id,
        b.status,
        b.method,
        b.type,
        b.parent,
        b.startTime,
        b.stopTime,
        b.startLsn ? `${b.startLsn}-${b.stopLsn}` : null,
        b.timeline,
        bytes(b.bytes),
        ...(withRepos ? [b.repositories?.join(',') || '-'] : []),
      ]),
    ) + other
  );
}

export function renderOperation(op: Operation): string {
  const step = op.progress?.step ? ` (${printable(op.progress.step)})` : '';
  const lines = [`${op.workflowId}: ${op.status.toLowerCase()}${step}`, `  ${op.uiUrl}`];
  if (op.status === 'RUNNING') lines.push(`  ${printable(progressLine(op))}`);
  if (op.failure) lines.push(`  failure: ${printable(op.failure.message, { keepNewlines: true })}`);
  if (op.result !== undefined) lines.push(`  result: ${printableJson(op.result).replaceAll('\n', '\n  ')}`);
  return lines.join('\n');
}

export function backupCommands(program: Command): void {
  program
    .command('backups')
    .description('list the backups in the catalog (S3), with the repositories holding each')
    .argument('<cluster>')
    .option('--repository <repository>', 'the repository to list: primary or secondary (storage.secondary)')
    .action(async (cluster: string, opts: { repository?: string }, cmd: Command) => {
      const inv = invocation(cmd);
      const query = opts.repository ? `?repository=${encodeURIComponent(opts.repository)}` : '';
      const res = await apiCall<BackupList>(inv.target(), 'GET', `${clusterPath(cluster)}/backups${query}`);
      inv.print(res, () => renderBackups(cluster, res.backups, res));
    });

  program
    .command('backup')
    .description('take a backup now')
    .argument('<cluster>')
    .option('--type <type>', 'full, diff or incr', 'full')
    .option('--from <where>', "primary or standby (basebackup method); default the cluster's backup.from")
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { type: string; from?: string; wait?: boolean }, cmd: Command) => {
      await runProcedure(invocation(cmd), {
        start: (target) =>
          apiCall<Started>(target, 'POST', `${clusterPath(cluster)}/backups`, {
            type: opts.type,
            ...(opts.from ? { from: opts.from } : {}),
          }),
        started: (s) => `started ${s.workflowId}\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        result: (r) => {
          type Manifest = { id: string; bytes: number; startLsn: string; stopLsn: string; verification: { detail: string } | null };
          const m = (r as { manifest: Manifest }).manifest;
          return `backup ${m.id}: ${bytes(m.bytes)}, lsn ${m.startLsn}-${m.stopLsn}, ${m.verification?.detail ?? 'not verified'}`;
        },
      });
    });

  program
    .command('expire')
    .description('apply retention now (keep N fulls and/or a recovery window)')
    .argument('<cluster>')
    .option('--dry-run', 'list what would go, delete nothing (follows it to the end)')
    .option('--wait', 'follow progress until it ends', false)
    .action(async (cluster: string, opts: { dryRun?: boolean; wait?: boolean }, cmd: Command) => {
      await runProcedure(invocation(cmd), {
        start: (target) => apiCall<Started>(target, 'POST', `${clusterPath(cluster)}/expire`, { dryRun: !!opts.dryRun }),
        started: (s) => `started ${s.workflowId}\n  ${s.uiUrl}`,
        wait: !!opts.wait || !!opts.dryRun,
        result: (r) => {
          const e = r as {
            dryRun: boolean;
            plan: {
              keep: string[];
              expire: { id: string; reason: string }[];
              heldByMinWindow?: { id: string; reason: string }[];
              heldByLock?: { id: string; reason: string }[];
              walHeldByLock?: { objects: number; bytes: number; retainUntil: string };
              walCutoff: string | null;
            };
            walObjects: number;
            walBytes: number;
          };
          const verb = e.dryRun ? 'would expire' : 'expired';
          return [
            `keep: ${e.plan.keep.join(', ') || '(none)'}`,
            ...(e.plan.heldByMinWindow ?? []).map((x) => `kept: ${x.id} (${x.reason})`),
            ...e.plan.expire.map((x) => `${verb}: ${x.id} (${x.reason})`),
            ...(e.plan.heldByLock ?? []).map((x) => `kept: ${x.id} (${x.reason})`),
            `wal ${verb}: ${e.walObjects} objects, ${bytes(e.walBytes)} (before ${e.plan.walCutoff ?? 'nothing'})`,
            ...(e.plan.walHeldByLock
              ? [
                  `wal kept by object lock: ${e.plan.walHeldByLock.objects} objects, until ${e.plan.walHeldByLock.retainUntil} at the latest`,
                ]
              : []),
          ].join('\n');
        },
      });
    });

  program
    .command('operation')
    .description('show (or --wait for) any pgdr workflow by id')
    .argument('<workflowId>')
    .option('--wait', 'follow progress until it ends')
    .action(async (id: string, opts: { wait?: boolean }, cmd: Command) => {
      const inv = invocation(cmd);
      if (!opts.wait) {
        const op = await apiCall<Operation>(inv.target(), 'GET', `/api/v1/operations/${id}`);
        return inv.print(op, () => renderOperation(op));
      }
      const op = await follow(inv.target(), id);
      finish(op, () => renderOperation(op), inv.format);
    });
}
