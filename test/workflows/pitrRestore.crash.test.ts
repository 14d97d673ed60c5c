/**
 * SIGKILL the worker while a restore downloads its backup: after a new worker starts, the
 * restore carries on (the interrupted step starts again in its own, emptied directory) and
 * still lands exactly on its target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import type pg from 'pg';
import { clients, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { switchAndArchive, timeAfter, writeTicks, type Tick } from '../helpers/ticks.js';
import { discardRestore } from '../helpers/restore.js';
import { spawnWorker, waitForLine } from '../helpers/process.js';
import type { RestoreReport } from '../../common/restore.js';

describe('point-in-time restore when the worker dies', () => {
  let pgs: Awaited<ReturnType<typeof ownPostgres>>;
  let tc: TestCluster;
  let c: Awaited<ReturnType<typeof clients>>;
  let db: pg.Client;
  let ticks: Tick[];
  let restoreDir: string;
  let worker: ReturnType<typeof spawnWorker>;
  const made: string[] = [];

  beforeAll(async () => {
    pgs = await ownPostgres();
    await pgs.start();
    restoreDir = join(pgs.layout.dir, 'pg', `own-${pgs.port}`, 'restores');
    tc = testCluster('pitrcrash', (cl) => {
      cl.nodes = { primary: pgs.node };
      cl.restore = { dir: restoreDir };
    });
    c = await clients(tc);
    worker = spawnWorker(tc.configPath);
    await waitForLine(worker, 'pgdr worker polling');
    const en = await c.call('POST', `/api/v1/clusters/${tc.name}/archive/enable`, {});
    await c.temporal.workflow.getHandle(en.body.workflowId).result();
    db = await pgs.connect();
    // Enough data that the download takes a few seconds.
    await db.query(`create table big as select g, md5(g::text) || md5((g * 7)::text) as pad from generate_series(1, 2500000) g`);
    const b = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    await c.temporal.workflow.getHandle(b.body.workflowId).result();
    ticks = await writeTicks(db, 'ticks', 6);
    await switchAndArchive(db);
  }, 300_000);

  afterAll(async () => {
    if (worker?.pid) process.kill(-worker.pid, 'SIGTERM');
    await worker;
    for (const dir of made) await discardRestore(pgs, dir);
    await db?.end();
    await c?.close();
    await pgs?.stop();
  });

  it('resumes after a restart and still stops exactly at the target', async () => {
    const k = Math.floor(ticks.length / 2);
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { time: timeAfter(ticks, k) } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    made.push(res.body.destination.dataDir);
    const handle = c.temporal.workflow.getHandle(res.body.workflowId);
    for (let i = 0; ; i++) {
      const p = await handle.query<{ step: string }>('progress').catch(() => null);
      if (p?.step.startsWith('downloading')) break;
      if (i > 600) throw new Error(`the restore never started downloading: ${p?.step}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    process.kill(-worker.pid!, 'SIGKILL');
    await worker;

    worker = spawnWorker(tc.configPath);
    await waitForLine(worker, 'pgdr worker polling');
    const report = (await handle.result()) as RestoreReport;
    expect((await pgs.sqlAt(report.destination.port, 'select count(*), max(id) from ticks')).trim()).toBe(`${k}|${k}`);
    expect((await pgs.sqlAt(report.destination.port, 'select count(*) from big')).trim()).toBe('2500000');
    // The interrupted activity was retried: its first attempt timed out on its heartbeat.
    const history = await handle.fetchHistory();
    const retried = history.events!.filter((e) => e.activityTaskTimedOutEventAttributes || (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1);
    expect(retried.length).toBeGreaterThan(0);
    // One directory: the restore's own.
    expect(readdirSync(restoreDir)).toEqual([report.destination.dataDir.split('/').pop()]);
  });
});
