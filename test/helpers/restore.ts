/** Starting a restore through the API and waiting for its report; removing restored copies afterwards. */
import { expect } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../../adapters/gateway.js';
import type { RestoreReport } from '../../domain/restore.js';
import type pg from 'pg';
import { clients, startWorkers, testCluster, type TestCluster } from './cluster.js';
import { ownPostgres, type OwnPostgres } from './postgres.js';
import { switchAndArchive, writeTicks, type Tick } from './ticks.js';
import type { BackupManifest } from '../../domain/catalog.js';

type Clients = Awaited<ReturnType<typeof clients>>;

/** POST /restores (expecting 202), then the workflow's report. Records the directory in `made`. */
export async function restoreAndWait(
  c: Clients,
  cluster: string,
  body: Record<string, unknown>,
  made: string[],
): Promise<{ report: RestoreReport; workflowId: string }> {
  const res = await c.call('POST', `/api/v1/clusters/${cluster}/restores`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  made.push(res.body.destination.dataDir);
  const report = (await c.temporal.workflow.getHandle(res.body.workflowId).result()) as RestoreReport;
  return { report, workflowId: res.body.workflowId };
}

/** Stops a restored copy (if it runs) and removes its directory. */
export async function discardRestore(pg: Pick<OwnPostgres, 'layout'>, dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'postmaster.pid'))) {
    await runTool({
      tool: 'pg_ctl',
      binDir: pg.layout.pgBin,
      args: ['-D', dataDir, '-m', 'immediate', '-w', 'stop'],
      osUser: pg.layout.pgUser,
    }).catch(() => undefined);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

export interface PitrSource {
  pgs: Awaited<ReturnType<typeof ownPostgres>>;
  tc: TestCluster;
  c: Clients;
  db: pg.Client;
  ticks: Tick[];
  backup: BackupManifest;
  restoreDir: string;
  /** Restored directories, removed by close(). */
  made: string[];
  /** count, min and max id of the ticks table on a server of the stack. */
  rows(port: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * A source for restore tests: a Postgres server of the test's own, archiving through pgdr,
 * one full backup, then `tickSeconds` of rows (see ticks.ts), the last segment archived.
 * `worker` starts the test's workers in this process (default) or leaves that to the test.
 */
export async function pitrSource(
  prefix: string,
  o: {
    method?: 'basebackup' | 'pgbackrest';
    tickSeconds?: number;
    worker?: 'in-process' | ((tc: TestCluster) => Promise<{ stop(): Promise<void> }>);
    beforeBackup?: (db: pg.Client) => Promise<void>;
    adjust?: (cluster: Record<string, unknown>) => void;
    /** Changes the rest of the config (e.g. another bucket). */
    adjustRoot?: (raw: Record<string, any>) => void;
    /** More initdb arguments for the source (e.g. `--wal-segsize=64`). */
    initdbArgs?: string[];
    /** Runs once the source's server first runs, before archiving is enabled. */
    afterStart?: (pgs: Awaited<ReturnType<typeof ownPostgres>>) => Promise<void>;
  } = {},
): Promise<PitrSource> {
  const pgs = await ownPostgres(o.initdbArgs ? { initdbArgs: o.initdbArgs } : {});
  await pgs.start();
  await o.afterStart?.(pgs);
  const restoreDir = join(pgs.layout.dir, 'pg', `own-${pgs.port}`, 'restores');
  const tc = testCluster(
    prefix,
    (cl) => {
      cl.method = o.method ?? 'basebackup';
      cl.nodes = { primary: pgs.node };
      cl.restore = { ...(cl.restore as object), dir: restoreDir };
      o.adjust?.(cl);
    },
    o.adjustRoot,
  );
  // A setup step that fails (a backup, the archiver under load) must not leave the server,
  // the workers or the connections of this source running: the caller never gets close().
  const undo: (() => Promise<unknown>)[] = [() => pgs.stop()];
  const undoAll = async () => {
    for (const u of undo.reverse()) await u().catch(() => undefined);
  };
  let workers: { stop(): Promise<void> }, c: Clients, db: pg.Client, backup: BackupManifest, ticks: Tick[];
  try {
    workers = typeof o.worker === 'function' ? await o.worker(tc) : await startWorkers(tc);
    undo.push(() => workers.stop());
    c = await clients(tc);
    undo.push(() => c.close());
    const en = await c.call('POST', `/api/v1/clusters/${tc.name}/archive/enable`, {});
    await c.temporal.workflow.getHandle(en.body.workflowId).result();
    db = await pgs.connect();
    undo.push(() => db.end());
    await o.beforeBackup?.(db);
    const b = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    backup = (await c.temporal.workflow.getHandle(b.body.workflowId).result()).manifest as BackupManifest;
    ticks = await writeTicks(db, 'ticks', o.tickSeconds ?? 20);
    await switchAndArchive(db);
  } catch (err) {
    await undoAll();
    throw err;
  }
  const made: string[] = [];
  return {
    pgs,
    tc,
    c,
    db,
    ticks,
    backup,
    restoreDir,
    made,
    rows: async (port) => (await pgs.sqlAt(port, 'select count(*), min(id), max(id) from ticks')).trim(),
    async close() {
      for (const dir of made) await discardRestore(pgs, dir);
      await db.end();
      await workers.stop();
      await c.close();
      await pgs.stop();
    },
  };
}
