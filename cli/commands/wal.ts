import { Option, type Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { ago, bytes, printable, table } from '../format.js';
import { EXIT, invocation } from '../output.js';
import { runProcedure, type Started } from '../procedure.js';
import type { WalCheckResult, TimelineWindow } from '../../domain/walCheck.js';
import type { BranchWindow } from '../../domain/timelines.js';

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
        [
          'round trip',
          r.roundTrip ? `${r.roundTrip.segment} ${r.roundTrip.ok ? `in S3 after ${r.roundTrip.seconds} s` : 'NOT in S3'}` : 'skipped',
        ],
        [
          'continuity',
          c
            ? `${c.expected} segments from ${c.fromSegment ?? '-'} to ${c.lastSegment ?? '-'}, ${c.missingCount} missing${c.missing[0] ? ` (first ${c.missing[0]})` : ''}`
            : '-',
        ],
        ['lag (RPO)', r.lag ? `${bytes(r.lag.bytes)}, ${r.lag.segments} segment(s), ${r.lag.seconds} s` : '-'],
        ...(r.listing
          ? [
              [
                'listing',
                `${r.listing.mode}${r.listing.why ? ` (${printable(r.listing.why)})` : ''}: ${r.listing.listCalls} LIST call(s), ${r.listing.listedObjects} object(s); last full ${ago(r.listing.fullScanAt, now)}`,
              ],
            ]
          : []),
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

/** Every timeline in the archive, each along its own branch: what `pgdr restore --timeline N` can reach. */
export function renderBranches(branches: BranchWindow[]): string {
  const point = (p: BranchWindow['earliest']) => (p ? `${p.time ?? '(time unknown)'} @ ${p.lsn}` : '-');
  return table(
    ['TIMELINE', 'BRANCHED OFF', 'EARLIEST', 'FROM BACKUP', 'LATEST', 'CURRENT'],
    branches.map((b) => [
      b.timeline,
      b.parent === null ? '-' : `${b.parent} at ${b.switchLsn}`,
      point(b.earliest),
      b.earliest?.backupId ?? '-',
      point(b.latest),
      b.current ? 'yes' : '',
    ]),
  );
}

export function registerWalCommands(program: Command): void {
  const wal = program.command('wal').description('WAL archive: status and checks (push and fetch are what Postgres runs)');
  // Declared for help and completion only: main.ts hands push and fetch to archive/main.ts before commander parses.
  const walFileOptions = (c: Command) =>
    c
      .option('--config <path>', 'pgdr.yaml')
      .option('--cluster <name>', 'cluster name')
      .addOption(new Option('--via <method>', 'who stores the WAL').choices(['basebackup', 'pgbackrest']))
      .allowUnknownOption()
      .helpOption(false);
  walFileOptions(wal.command('push').description('archive one WAL file: archive_command = pgdr wal push --config F --cluster C %p'));
  walFileOptions(wal.command('fetch').description('restore one WAL file: restore_command = pgdr wal fetch --config F --cluster C %f %p'));

  wal
    .command('status')
    .description('the newest WAL archive check: health, archiver, round trip, gaps, lag')
    .argument('<cluster>')
    .action(async (cluster: string, _opts: unknown, cmd: Command) => {
      const inv = invocation(cmd);
      const res = await apiCall<WalCheckResult>(inv.target(), 'GET', `${clusterPath(cluster)}/wal-archive`);
      inv.print(res, () => renderWalCheck(res));
      if (!res.healthy) process.exitCode = EXIT.failed;
    });

  wal
    .command('check')
    .description('run the WAL archive check now')
    .argument('<cluster>')
    .option('--skip-round-trip', 'do not force a segment switch')
    .option('--full', 'list the whole archive and rebuild the index (a check lists only what is new, in full at least daily)')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { skipRoundTrip?: boolean; full?: boolean; wait?: boolean }, cmd: Command) => {
      const path = `${clusterPath(cluster)}/wal-archive`;
      await runProcedure(invocation(cmd), {
        start: (target) =>
          apiCall<Started>(target, 'POST', `${path}/check`, { skipRoundTrip: !!opts.skipRoundTrip, fullListing: !!opts.full }),
        started: (s) => `started ${s.workflowId}\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        result: (r) => renderWalCheck(r as WalCheckResult),
        // The stored result says why in full; show it, then fail like any failed operation.
        onFailure: async (target, started) => {
          const stored = await apiCall<WalCheckResult>(target, 'GET', path).catch(() => undefined);
          return stored?.workflowId === started.workflowId ? { json: { check: stored }, table: renderWalCheck(stored) } : undefined;
        },
      });
    });

  program
    .command('recovery-window')
    .description('per timeline, the earliest and latest point a restore can reach (as of the newest WAL check)')
    .argument('<cluster>')
    .action(async (cluster: string, _opts: unknown, cmd: Command) => {
      const inv = invocation(cmd);
      const res = await apiCall<{ asOf: string; healthy: boolean; timelines: TimelineWindow[]; branches?: BranchWindow[] }>(
        inv.target(),
        'GET',
        `${clusterPath(cluster)}/recovery-window`,
      );
      inv.print(res, () =>
        [
          `as of ${res.asOf}${res.healthy ? '' : ' (archive UNHEALTHY)'}`,
          renderWindow(cluster, res.timelines),
          ...(res.branches?.length
            ? ['', 'every timeline, along its own history (pgdr restore --timeline N):', renderBranches(res.branches)]
            : []),
        ].join('\n'),
      );
    });

  program
    .command('archive')
    .description('WAL archiving setup')
    .command('enable')
    .description('set archive_mode, archive_command (pgdr wal push) and restore_command (pgdr wal fetch) on every node')
    .argument('<cluster>')
    .option('--wait', 'follow progress until it ends')
    .action(async (cluster: string, opts: { wait?: boolean }, cmd: Command) => {
      await runProcedure(invocation(cmd), {
        start: (target) => apiCall<Started & { archiveCommand: string }>(target, 'POST', `${clusterPath(cluster)}/archive/enable`, {}),
        started: (s) => `started ${s.workflowId}\n  archive_command = '${s.archiveCommand}'\n  ${s.uiUrl}`,
        wait: !!opts.wait,
        result: (r) => {
          const e = r as { nodes: { node: string; role: string; changed: { name: string }[]; error?: string }[]; restartNeeded: string[] };
          const changes = (c: { name: string }[]) => (c.length ? `changed ${c.map((x) => x.name).join(', ')}` : 'already set');
          const lines = e.nodes.map((n) => `  ${n.node} (${n.role}): ${n.error ? printable(n.error) : changes(n.changed)}`);
          const restart = `RESTART NEEDED on ${e.restartNeeded.join(', ')}: archive_mode only changes at server start`;
          lines.push(e.restartNeeded.length ? restart : 'no restart needed');
          return lines.join('\n');
        },
      });
    });
}
