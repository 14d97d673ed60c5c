import type { Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { bytes, table } from '../format.js';
import { invocation } from '../output.js';
import { runProcedure, type Started } from '../procedure.js';
import type { RebuildReport, SwitchoverReport } from '../../domain/replication.js';

export function renderRebuild(r: RebuildReport): string {
  return [
    `rebuilt ${r.node} from ${r.source === 'backup' ? `backup ${r.backupId}` : r.primary}${r.viaPatroni ? ' (patroni reinitialize)' : ''}: streaming from ${r.primary}, lag ${bytes(r.lagBytes)}`,
    `  clone ${r.seconds.clone} s, catch-up ${r.seconds.catchUp} s, total ${r.seconds.total} s; old data directory ${r.oldDataDir ? (r.oldDataDirRemoved ? `${r.oldDataDir} removed` : `${r.oldDataDir} kept`) : '-'}`,
  ].join('\n');
}

export function renderSwitchover(r: SwitchoverReport): string {
  const lines = [
    `switchover ${r.oldPrimary} -> ${r.newPrimary}${r.viaPatroni ? ' (patroni)' : ''}: timeline ${r.newTimeline ?? '-'}, history archived ${r.historyArchived ?? '-'}`,
    `  clients paused ${r.pauseSeconds ?? '-'} s; fence ${r.seconds.fence} s, promote ${r.seconds.promote} s, rejoin ${r.seconds.rejoin} s, total ${r.seconds.total} s`,
    ...r.rejoined.map(
      (j) => `  ${j.node}: ${j.streaming ? 'streams from' : 'NOT streaming from'} ${r.newPrimary}${j.rewound ? ' (pg_rewind)' : ''}`,
    ),
    ...(r.backupWorkflowId ? [`  backup started: ${r.backupWorkflowId}`] : []),
    ...r.warnings.map((w) => `  warning: ${w}`),
  ];
  return lines.join('\n');
}

export function replicationCommands(program: Command): void {
  program
    .command('rebuild')
    .description('rebuild a standby from the primary or the newest backup (its old data directory is kept until the new copy streams)')
    .argument('<cluster>')
    .argument('<node>')
    .option('--source <source>', 'primary or backup', 'primary')
    .option('--repository <repository>', 'with --source backup: primary, secondary (storage.secondary) or auto')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, node: string, opts: { source: string; repository?: string; wait?: boolean }, cmd: Command) => {
      const from = (s: { primary: string }) => (opts.source === 'backup' ? 'the newest backup' : s.primary);
      await runProcedure(invocation(cmd), {
        start: (target) =>
          apiCall<Started & { primary: string }>(target, 'POST', `${clusterPath(cluster)}/nodes/${encodeURIComponent(node)}/rebuild`, {
            source: opts.source,
            ...(opts.repository ? { repository: opts.repository } : {}),
          }),
        started: (s) => `started ${s.workflowId} (rebuilding ${node} from ${from(s)})\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        result: (r) => renderRebuild(r as RebuildReport),
      });
    });

  program
    .command('switchover')
    .description('planned switchover to a streaming standby (PgBouncer paused, old primary rejoined); rolls back before promotion')
    .argument('<cluster>')
    .requiredOption('--candidate <node>', 'the standby to promote')
    .option('--max-lag-bytes <n>', 'refuse when the candidate lags more than this')
    .option('--no-backup', 'do not start a backup afterwards')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { candidate: string; maxLagBytes?: string; backup: boolean; wait?: boolean }, cmd: Command) => {
      const body: Record<string, unknown> = { candidate: opts.candidate };
      if (opts.maxLagBytes !== undefined) body.maxLagBytes = /^\d+$/.test(opts.maxLagBytes) ? Number(opts.maxLagBytes) : opts.maxLagBytes;
      if (!opts.backup) body.backupAfter = false;
      await runProcedure(invocation(cmd), {
        start: (target) =>
          apiCall<Started & { oldPrimary: string; candidateLagBytes: number | null }>(
            target,
            'POST',
            `${clusterPath(cluster)}/switchover`,
            body,
          ),
        started: (s) =>
          `started ${s.workflowId}: ${s.oldPrimary} -> ${opts.candidate} ` + `(candidate lag ${bytes(s.candidateLagBytes)})\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        intervalMs: 250,
        result: (r) => renderSwitchover(r as SwitchoverReport),
      });
    });

  program
    .command('replication')
    .description('the history of rebuilds and switchovers')
    .argument('<cluster>')
    .action(async (cluster: string, _opts: unknown, cmd: Command) => {
      const inv = invocation(cmd);
      type History = { rebuilds: RebuildReport[]; switchovers: SwitchoverReport[] };
      const res = await apiCall<History>(inv.target(), 'GET', `${clusterPath(cluster)}/replication`);
      inv.print(res, () =>
        [
          res.switchovers.length
            ? table(
                ['FINISHED', 'OLD', 'NEW', 'PAUSE (s)', 'TOTAL (s)', 'WARNINGS'],
                res.switchovers.map((s) => [s.finishedAt, s.oldPrimary, s.newPrimary, s.pauseSeconds, s.seconds.total, s.warnings.length]),
              )
            : 'no switchovers yet',
          res.rebuilds.length
            ? table(
                ['FINISHED', 'NODE', 'SOURCE', 'LAG', 'TOTAL (s)'],
                res.rebuilds.map((r) => [r.finishedAt, r.node, r.source, bytes(r.lagBytes), r.seconds.total]),
              )
            : 'no rebuilds yet',
        ].join('\n'),
      );
    });
}
