import type { Command } from 'commander';
import { replicationPeerOf, type ClusterStatus, type NodeProbe, type NodeStatus } from '../../domain/status.js';
import { apiCall, clusterPath } from '../client.js';
import { ago, bytes, printable, table } from '../format.js';
import { EXIT, invocation } from '../output.js';

type StatusAnswer = ClusterStatus & { workflowId: string; uiUrl: string };

/**
 * A standby's replay_lag as its primary measures it; "not streaming" when the primary does not
 * list it (no lag can be measured), "?" when listed but not measured yet or there is no primary.
 */
function lagSecondsText(n: NodeStatus, primary: NodeProbe | undefined): string {
  if (primary && n.probe && !replicationPeerOf(primary, n.probe)) return 'not streaming';
  return typeof n.lagSeconds === 'number' ? `${n.lagSeconds.toFixed(1)}s` : '?';
}

export function renderStatus(s: StatusAnswer, now = Date.now()): string {
  const primaryProbe = s.nodes.find((n) => n.node === s.primary)?.probe;
  const rows = s.nodes.map((n) => {
    const p = n.probe;
    if (!p) return [n.node, 'unreachable', null, null, null, null, null, n.error ?? ''];
    const lsn = p.role === 'primary' ? p.currentLsn : p.replayLsn;
    const lag = p.role === 'primary' ? null : `${bytes(n.lagBytes)} / ${lagSecondsText(n, primaryProbe)}`;
    const stream = p.role === 'primary' ? `${p.replication.length} standby(s)` : (p.walReceiver?.status ?? 'not streaming');
    const archiver =
      p.role === 'primary'
        ? `${p.archiver.archivedCount} ok, ${p.archiver.failedCount} failed, last ${p.archiver.lastArchivedWal ?? '-'} ${ago(p.archiver.lastArchivedAt, now)}`
        : '-';
    return [n.node, p.role, p.timeline, lsn, lag, stream, p.dataChecksums ? 'on' : 'OFF', archiver];
  });
  const out = [
    `cluster ${s.cluster}: primary ${s.primary ?? '(none)'}, checked ${s.checkedAt}`,
    '',
    table(['NODE', 'ROLE', 'TL', 'LSN', 'LAG (bytes / replay_lag)', 'REPLICATION', 'CHECKSUMS', 'ARCHIVER'], rows),
    '',
    s.warnings.length ? `warnings:\n${s.warnings.map((w) => `  - ${printable(w)}`).join('\n')}` : 'warnings: none',
    `temporal: ${s.uiUrl}`,
  ];
  return out.join('\n');
}

export function statusCommand(program: Command): void {
  program
    .command('status')
    .description('role, timeline, LSNs, replication lag and archiver figures of every node')
    .argument('<cluster>', 'cluster name from pgdr.yaml')
    .option('--max-lag-bytes <n>', 'warn when a standby lags more than this many bytes')
    .action(async (cluster: string, opts: { maxLagBytes?: string }, cmd: Command) => {
      const inv = invocation(cmd);
      const q = opts.maxLagBytes !== undefined ? `?maxLagBytes=${encodeURIComponent(opts.maxLagBytes)}` : '';
      const s = await apiCall<StatusAnswer>(inv.target(), 'GET', `${clusterPath(cluster)}/status${q}`);
      inv.print(s, () => renderStatus(s));
      if (s.warnings.length) process.exitCode = EXIT.warnings;
    });
}
