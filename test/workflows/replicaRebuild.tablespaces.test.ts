/**
 * replicaRebuild of a standby whose cluster has a user tablespace, on one host: the original
 * location is the primary's live directory, so the rebuilt standby gets its own beside its data
 * directory (<dataDir>_tblspc/<oid>), holds every row, keeps streaming into it, and the
 * primary's tablespace directory stays byte for byte as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { until } from '../helpers/stack.js';
import { replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';
import { pgCtl, rebuildWatching, streams } from '../helpers/rebuild.js';
import { treeChecksums } from '../helpers/files.js';

describe.each(['basebackup', 'pgbackrest'] as const)('replicaRebuild with a tablespace (%s method)', (method) => {
  let rc: ReplicatedCluster;
  let live: string;
  let oid: number;

  beforeAll(async () => {
    rc = await replicatedCluster(method === 'basebackup' ? 'rbts' : 'rbtspbr', { adjust: (cl) => void (cl.method = method) });
    const en = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/archive/enable`, {});
    await resultOf(rc, en.body.workflowId);
    // A standby on the primary's host cannot replay CREATE TABLESPACE (it would use the
    // primary's directory): it is stopped while the tablespace is made, then rebuilt.
    await pgCtl(rc, rc.dataDir('replica'), '-m', 'fast', '-w', 'stop');
    const primaryDir = rc.dataDir('primary');
    live = join(dirname(primaryDir), 'live_ts_r');
    mkdirSync(live, { mode: 0o700 });
    const st = statSync(primaryDir);
    chownSync(live, st.uid, st.gid);
    await rc.sql('primary', `create tablespace ts_r location '${live}'`);
    await rc.sql(
      'primary',
      'create table in_r (id int) with (autovacuum_enabled = off) tablespace ts_r; insert into in_r select generate_series(1, 300);',
    );
    oid = Number((await rc.sql('primary', "select oid from pg_tablespace where spcname = 'ts_r'")).trim());
  }, 240_000);
  afterAll(async () => rc?.stop());

  const check = async (rows: number) => {
    expect(await streams(rc, 'replica')).toBe(true);
    await until(
      'the rows on the rebuilt standby',
      async () => (await rc.sql('replica', 'select count(*) from in_r')).trim() === String(rows),
      30_000,
    );
    expect((await rc.sql('replica', `select pg_tablespace_location(${oid})`)).trim()).toBe(`${rc.dataDir('replica')}_tblspc/${oid}`);
  };

  it('rebuilds from the primary (basebackup) or the newest backup, the tablespace beside its data directory, the live one untouched', async () => {
    await rc.sql('primary', 'checkpoint');
    const before = treeChecksums(live);
    if (method === 'basebackup') {
      const { report } = await rebuildWatching(rc, 'primary');
      expect(report).toMatchObject({ source: 'primary', oldDataDirRemoved: true });
      await check(300);
      await rc.sql('primary', 'checkpoint');
      expect(treeChecksums(live)).toEqual(before);
    }
    const b = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type: 'full' });
    const backup = (await resultOf<{ manifest: { id: string; tablespaces?: { oid: number }[] } }>(rc, b.body.workflowId)).manifest;
    expect(backup.tablespaces?.map((t) => t.oid)).toEqual([oid]);
    await rc.sql('primary', 'checkpoint');
    const again = treeChecksums(live);
    const { report } = await rebuildWatching(rc, 'backup');
    expect(report).toMatchObject({ source: 'backup', backupId: backup.id, oldDataDirRemoved: true });
    await check(300);
    await rc.sql('primary', 'checkpoint');
    expect(treeChecksums(live)).toEqual(again);
    // It keeps streaming into its own directory.
    await rc.sql('primary', 'insert into in_r select generate_series(301, 350)');
    await check(350);
    // Two rebuilds and a backup (the pgbackrest one verifies the whole repository): minutes on a loaded machine.
  }, 900_000);
});
