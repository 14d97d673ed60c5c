import type { Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { bytes, table } from '../format.js';
import { invocation } from '../output.js';
import { runProcedure, type Started } from '../procedure.js';
import type { CopyReport } from '../../domain/copy.js';

export function renderCopy(r: CopyReport): string {
  return [
    `copy ${r.id} to ${r.secondary.endpoint} bucket ${r.secondary.bucket}/${r.secondary.prefix}: ${r.backupsCopied.length} backup(s) copied, ${r.wal.copied} WAL object(s), ${bytes(r.bytes)} in ${r.seconds.toFixed(1)} s (${r.mbPerSecond} MB/s)`,
    `  on the secondary: ${r.backupsOnSecondary.length} good backup(s)${r.wal.newestOnSecondary ? `, WAL up to ${r.wal.newestOnSecondary}` : ''}`,
    ...r.backupsSkipped.map((s) => `  skipped ${s.id}: ${s.reason}`),
    ...(r.verified
      ? [
          r.verified.tool
            ? `  verified: ${r.verified.objects} file(s) and WAL segment(s) valid (${r.verified.tool})`
            : `  verified: ${r.verified.objects} object(s), ${bytes(r.verified.bytes ?? 0)} re-read, every sha256 as copied`,
        ]
      : []),
  ].join('\n');
}

export function copyCommands(program: Command): void {
  program
    .command('copy')
    .description('copy to the secondary repository (storage.secondary) every good backup and the WAL it lacks, checked there')
    .argument('<cluster>')
    .option('--verify', 're-read every object on the secondary and check it (a damaged object fails the run, named)')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { verify?: boolean; wait?: boolean }, cmd: Command) => {
      await runProcedure(invocation(cmd), {
        start: (target) => apiCall<Started>(target, 'POST', `${clusterPath(cluster)}/copies`, { verify: !!opts.verify }),
        started: (s) => `started ${s.workflowId}\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        result: (r) => renderCopy(r as CopyReport),
      });
    });

  program
    .command('copies')
    .description('the copy runs to the secondary repository: what each copied, and how fast')
    .argument('<cluster>')
    .action(async (cluster: string, _opts: unknown, cmd: Command) => {
      const inv = invocation(cmd);
      const res = await apiCall<{ copies: CopyReport[] }>(inv.target(), 'GET', `${clusterPath(cluster)}/copies`);
      inv.print(res, () =>
        res.copies.length === 0
          ? `cluster ${cluster}: no copy yet`
          : table(
              ['ID', 'TRIGGER', 'BACKUPS COPIED', 'ON SECONDARY', 'WAL COPIED', 'BYTES', 'MB/S', 'VERIFIED'],
              res.copies.map((c) => [
                c.id,
                c.trigger,
                c.backupsCopied.length,
                c.backupsOnSecondary.length,
                c.wal.copied,
                bytes(c.bytes),
                c.mbPerSecond,
                c.verified ? `${c.verified.objects} objects` : '-',
              ]),
            ),
      );
    });
}
