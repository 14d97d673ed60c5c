/**
 * Point-in-time restore with the pgbackrest method: pgbackrest restore --type=time|lsn into a
 * new directory, WAL from pgBackRest's archive through `pgdr wal fetch --via pgbackrest`, and
 * exactly the rows committed up to the target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type pg from 'pg';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { switchAndArchive, timeAfter, writeTicks, type Tick } from '../helpers/ticks.js';
import { discardRestore, restoreAndWait } from '../helpers/restore.js';

describe('point-in-time restore (pgbackrest method)', () => {
  let pgs: Awaited<ReturnType<typeof ownPostgres>>;
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;
  let db: pg.Client;
  let ticks: Tick[];
  const made: string[] = [];

  beforeAll(async () => {
    pgs = await ownPostgres();
    await pgs.start();
    tc = testCluster('pitrpbr', (cl) => {
      cl.method = 'pgbackrest';
      cl.nodes = { primary: pgs.node };
      cl.restore = { dir: join(pgs.layout.dir, 'pg', `own-${pgs.port}`, 'restores') };
    });
    workers = await startWorkers(tc);
    c = await clients(tc);
    const en = await c.call('POST', `/api/v1/clusters/${tc.name}/archive/enable`, {});
    await c.temporal.workflow.getHandle(en.body.workflowId).result();
    const b = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    await c.temporal.workflow.getHandle(b.body.workflowId).result();
    db = await pgs.connect();
    ticks = await writeTicks(db, 'ticks', 20);
    await switchAndArchive(db);
  }, 240_000);

  afterAll(async () => {
    for (const dir of made) await discardRestore(pgs, dir);
    await db?.end();
    await workers?.stop();
    await c?.close();
    await pgs?.stop();
  });

  const rows = async (port: number) => (await pgs.sqlAt(port, 'select count(*), min(id), max(id) from ticks')).trim();

  it('restores to a time in the middle with pgbackrest restore --type=time: exactly the rows up to it', async () => {
    const k = Math.floor(ticks.length / 2);
    const { report } = await restoreAndWait(c, tc.name, { target: { time: timeAfter(ticks, k) } }, made);
    expect(report).toMatchObject({ method: 'pgbackrest', stop: { state: 'paused' }, verification: { tool: 'pgbackrest verify', ok: true } });
    expect(await rows(report.destination.port)).toBe(`${k}|1|${k}`);
    // pgBackRest wrote the target; pgdr's restore_command fetches through pgBackRest's archive.
    const auto = (await pgs.sqlAt(report.destination.port, `select current_setting('restore_command'), current_setting('recovery_target_time') <> ''`)).trim();
    expect(auto).toMatch(/wal fetch .*--via pgbackrest.*\|t$/);
  });

  it('checks the archive through pgBackRest\'s own layout: healthy, with the window up to the last commit', async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/wal-archive/check`, {});
    const check = await c.temporal.workflow.getHandle(res.body.workflowId).result();
    expect(check.problems).toEqual([]);
    expect(check.continuity).toMatchObject({ missingCount: 0, missingHistory: [] });
    expect(check.roundTrip.ok).toBe(true);
    const window = check.window.at(-1);
    expect(Date.parse(window.latest.time)).toBeGreaterThanOrEqual(Date.parse(ticks.at(-1)!.before));
  });

  it('restores to an lsn with pgbackrest restore --type=lsn and promotes', async () => {
    const k = Math.floor(ticks.length * 0.7);
    const { report } = await restoreAndWait(c, tc.name, { target: { lsn: ticks[k - 1]!.lsnAfter }, action: 'promote' }, made);
    expect(report.stop.state).toBe('promoted');
    expect(await rows(report.destination.port)).toBe(`${k}|1|${k}`);
  });
});
