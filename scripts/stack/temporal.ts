/**
 * Temporal dev server: `temporal server start-dev` with a persistent SQLite file, the Web UI,
 * and pgdr's custom search attributes registered at start.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { StackLayout } from './layout.js';
import { findTool, portOpen, readPid, startDaemon, stopDaemon, waitFor } from './procs.js';
import { SQLITE_PRAGMAS } from '../../cli/devServerPragmas.js';

export const SEARCH_ATTRIBUTES = { PgdrCluster: 'Keyword', PgdrProcedure: 'Keyword' } as const;

/** `temporal server start-dev` arguments: a persistent SQLite file (WAL journal), the UI, pgdr's search attributes. */
export function devServerArgs(o: { ip: string; port: number; uiPort: number; dbFile: string; more?: string[] }): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    o.ip,
    '--port',
    String(o.port),
    '--ui-port',
    String(o.uiPort),
    ...(o.more ?? []),
    '--db-filename',
    o.dbFile,
    ...SQLITE_PRAGMAS,
    '--namespace',
    'default',
    '--log-level',
    'warn',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, v]) => ['--search-attribute', `${k}=${v}`]),
  ];
}

export async function ensureTemporal(layout: StackLayout): Promise<void> {
  const pidFile = join(layout.run, 'temporal.pid');
  const logFile = join(layout.logs, 'temporal.log');
  if (readPid(pidFile) && (await portOpen(layout.ports.temporal))) return;
  if (await portOpen(layout.ports.temporal)) {
    throw new Error(`port ${layout.ports.temporal} is taken by another process\nHINT: set PGDR_PORT_OFFSET to move the stack's ports`);
  }
  mkdirSync(join(layout.dir, 'temporal'), { recursive: true });
  const temporal = findTool('temporal', layout.toolsBin);
  startDaemon({
    cmd: temporal,
    args: devServerArgs({
      ip: '127.0.0.1',
      port: layout.ports.temporal,
      uiPort: layout.ports.temporalUi,
      dbFile: join(layout.dir, 'temporal', 'temporal.db'),
      more: ['--http-port', String(layout.ports.temporalHttp), '--metrics-port', String(layout.ports.temporalMetrics)],
    }),
    logFile,
    pidFile,
  });
  await waitFor(`temporal on port ${layout.ports.temporal}`, () => portOpen(layout.ports.temporal), 60000, logFile);
  await waitFor(`temporal ui on port ${layout.ports.temporalUi}`, () => portOpen(layout.ports.temporalUi), 30000, logFile);
}

export async function stopTemporal(layout: StackLayout): Promise<boolean> {
  return stopDaemon(join(layout.run, 'temporal.pid'), 'temporal');
}
