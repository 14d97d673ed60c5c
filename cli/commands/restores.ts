import type { DropRestoreResult } from '../../workflows/dropRestore.js';
import type { Command } from 'commander';
import { apiCall, clusterPath } from '../client.js';
import { bytes, table } from '../format.js';
import { invocation } from '../output.js';
import { runProcedure, type Started } from '../procedure.js';
import type { RestoreReport } from '../../domain/restore.js';
import { parseTablespaceMapOptions } from '../../domain/tablespaces.js';
import type { RestoredCopy } from '../../domain/restoredCopy.js';

interface RestoreOptions {
  time?: string;
  lsn?: string;
  name?: string;
  xid?: string;
  timeline?: string;
  latest?: boolean;
  immediate?: boolean;
  node?: string;
  dataDir?: string;
  port?: string;
  promote?: boolean;
  backupId?: string;
  exclusive?: boolean;
  replaceExisting?: boolean;
  confirm?: string;
  tablespaceMap?: string[];
  repository?: string;
  wait?: boolean;
  standalone?: string;
}

/** The request body from the options; the API checks it and names any bad field. */
export function restoreBody(o: RestoreOptions): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  if (o.time !== undefined) target.time = o.time;
  if (o.lsn !== undefined) target.lsn = o.lsn;
  if (o.name !== undefined) target.name = o.name;
  if (o.xid !== undefined) target.xid = o.xid;
  if (o.latest) target.latest = true;
  if (o.immediate) target.immediate = true;
  const destination: Record<string, unknown> = {};
  if (o.node !== undefined) destination.node = o.node;
  if (o.dataDir !== undefined) destination.dataDir = o.dataDir;
  if (o.port !== undefined) destination.port = /^\d+$/.test(o.port) ? Number(o.port) : o.port;
  return {
    target,
    destination,
    action: o.promote ? 'promote' : 'pause',
    inclusive: !o.exclusive,
    ...(o.timeline !== undefined ? { timeline: /^\d+$/.test(o.timeline) ? Number(o.timeline) : o.timeline } : {}),
    ...(o.backupId ? { backupId: o.backupId } : {}),
    ...(o.replaceExisting ? { replaceExisting: true } : {}),
    ...(o.confirm !== undefined ? { confirm: o.confirm } : {}),
    ...(o.tablespaceMap?.length ? { tablespaceMap: parseTablespaceMapOptions(o.tablespaceMap) } : {}),
    ...(o.repository !== undefined ? { repository: o.repository } : {}),
  };
}

export function renderRestore(r: RestoreReport): string {
  const s = r.seconds;
  return [
    `restore ${r.id}: backup ${r.backupId} (${r.method}${r.repository ? `, from the ${r.repository}` : ''}) to ${r.destination.node}:${r.destination.dataDir} port ${r.destination.port}`,
    `  stopped at lsn ${r.stop.replayLsn}, last commit ${r.stop.lastCommitTime ?? 'none'}, ${r.stop.state}${r.stop.xactStatus !== undefined ? ` (transaction ${r.stop.xactStatus ?? 'unknown'})` : ''}${r.timeline ? ` on timeline ${r.timeline.number}` : ''}`,
    `  RTO ${s.total} s: pre-flight ${s.preflight}, download ${s.download}, extract ${s.extract}, verify ${s.verify}, replay ${s.replay} (${bytes(r.bytes.downloaded)})`,
    ...(r.notes ?? []).map((n) => `  note: ${n}`),
    ...(r.tablespaces ?? []).map((t) => `  tablespace ${t.name} (oid ${t.oid}): ${t.from} -> ${t.to}`),
    ...(r.replaced ? [`  replaced data directory ${r.replaced.oldDataDir} ${r.replaced.removed ? 'removed' : 'kept'}`] : []),
  ].join('\n');
}

/** The API's answer to a drop: the workflow's result and a UI link. */
type DropAnswer = DropRestoreResult & { uiUrl: string };

export function renderDrop(d: DropAnswer): string {
  if (d.alreadyRemoved) return `restore ${d.id}: ${d.node}:${d.dataDir} was already removed; nothing to do`;
  return `restore ${d.id}: ${d.stopped ? 'stopped and ' : ''}removed ${d.node}:${d.dataDir} (${d.dropWorkflowId})\n  ${d.uiUrl}`;
}

export function restoreCommands(program: Command): void {
  const restore = program
    .command('restore')
    .description('point-in-time restore into a new directory (default) or over an existing one')
    .argument('<cluster>')
    .option('--time <rfc3339>', 'recover to this commit time, e.g. 2026-11-20T10:15:00+01:00')
    .option('--lsn <lsn>', 'recover to this WAL location, e.g. 0/3000060')
    .option('--name <restore-point>', 'recover to this restore point')
    .option('--xid <xid>', 'recover to the end of this transaction (32-bit id, or the 64-bit form of pg_current_xact_id())')
    .option('--timeline <timeline>', "follow this timeline: a number, current (the backup's) or latest (the newest archived)")
    .option('--latest', 'recover to the newest archived commit')
    .option('--immediate', 'stop as soon as the backup is consistent')
    .option('--node <node>', 'node whose host receives the restore (default restore.node)')
    .option('--data-dir <path>', 'data directory (default <restore.dir>/<cluster>-<id>)')
    .option('--port <port>', 'port of the restored instance (default: first free in the range)')
    .option('--promote', 'promote at the target instead of pausing there')
    .option('--backup-id <id>', 'restore from this backup')
    .option('--exclusive', 'stop just before the target instead of just after')
    .option('--replace-existing', 'restore over an existing directory (renamed aside until proven)')
    .option('--confirm <cluster>', 'the cluster name, required with --replace-existing')
    .option(
      '--tablespace-map <name=path>',
      'put this tablespace (name or OID) in this directory instead of <data-dir>_tblspc/<oid>; repeatable',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option(
      '--repository <repository>',
      `the repository to read: ${'primary, secondary (storage.secondary) or auto (the secondary when the primary storage is unreachable)'}`,
    )
    .option('--wait', 'follow progress until it ends')
    .option(
      '--standalone <storage-config.yaml>',
      'break-glass: restore with nothing but the bucket (no pgdr.yaml, Temporal or API): runs pitrRestore on an embedded engine and follows it to its end',
    )
    .action(async (cluster: string, opts: RestoreOptions, cmd: Command) => {
      if (opts.standalone !== undefined) {
        // Loaded only here: the worker SDK it brings would slow every other command's start.
        const { standaloneRestore } = await import('../standalone.js');
        await standaloneRestore(invocation(cmd), { cluster, configFile: opts.standalone, body: restoreBody(opts) }, renderRestore);
        return;
      }
      await runProcedure(invocation(cmd), {
        start: (target) =>
          apiCall<Started & { backupId: string; destination: { node: string; dataDir: string; port: number } }>(
            target,
            'POST',
            `${clusterPath(cluster)}/restores`,
            restoreBody(opts),
          ),
        started: (s) => {
          const d = s.destination;
          return `started ${s.workflowId}: backup ${s.backupId} to ${d.node}:${d.dataDir} port ${d.port}\n  ${s.uiUrl}`;
        },
        wait: !!opts.wait,
        result: (r) => renderRestore(r as RestoreReport),
      });
    });

  restore
    .command('drop')
    .description("stop and remove the copy a finished restore made (only a directory carrying that restore's marker)")
    .argument('<cluster>')
    .argument('<id>', 'restore id, from pgdr restores <cluster>')
    .action(async (cluster: string, id: string, _opts: unknown, cmd: Command) => {
      const inv = invocation(cmd);
      const res = await apiCall<DropAnswer>(inv.target(), 'DELETE', `${clusterPath(cluster)}/restores/${encodeURIComponent(id)}`);
      inv.print(res, () => renderDrop(res));
    });

  program
    .command('restores')
    .description('list the finished restores (achieved RTO by phase) and whether each copy still runs')
    .argument('<cluster>')
    .action(async (cluster: string, _opts: unknown, cmd: Command) => {
      const inv = invocation(cmd);
      type Listed = RestoreReport & { live?: RestoredCopy };
      const res = await apiCall<{ restores: Listed[] }>(inv.target(), 'GET', `${clusterPath(cluster)}/restores`);
      inv.print(res, () =>
        res.restores.length === 0
          ? `cluster ${cluster}: no restores`
          : table(
              ['ID', 'BACKUP', 'TARGET', 'STOPPED AT', 'COPY', 'PORT', 'DIRECTORY', 'RTO (s)', 'NOTE'],
              res.restores.map((r) => [
                r.id,
                r.backupId,
                JSON.stringify(r.target),
                r.stop.lastCommitTime ?? r.stop.replayLsn,
                r.live ? `${r.live.state}${r.live.kind === 'drill' ? ' (drill)' : ''}` : null,
                r.live?.port ?? r.destination.port,
                `${r.destination.node}:${r.destination.dataDir}`,
                r.seconds.total,
                r.live?.note ?? null,
              ]),
            ),
      );
    });
}
