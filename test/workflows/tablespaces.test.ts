/**
 * Clusters with user tablespaces, with both methods, on a Postgres server of the test's own:
 * ts_a exists before the first backup, ts_b is created after it, and a second backup holds
 * both. Backups record every tablespace; a restore on the same host puts each in a directory
 * of its own (the default, or where the request maps it) with every row, and the live
 * tablespace directories stay byte for byte as they were. A mapping onto a live tablespace
 * directory, and a replay past a tablespace the backup lacks, are refused naming both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chownSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { switchAndArchive } from '../helpers/ticks.js';
import type { BackupManifest } from '../../domain/catalog.js';
import type { DrillReport } from '../../domain/drill.js';
import { treeChecksums } from '../helpers/files.js';

describe.each(['basebackup', 'pgbackrest'] as const)('tablespaces (%s method)', (method) => {
  let src: PitrSource;
  let first: BackupManifest;
  let second: BackupManifest;
  const live: Record<string, string> = {};
  const oids: Record<string, number> = {};
  let before: Record<string, Record<string, string>>;

  /** A tablespace beside the server's data directory (<stack>/pg/own-<port>/live_<name>), its OS user's. */
  const makeTablespace = async (db: pg.Client, name: string) => {
    const dataDir = (await db.query<{ d: string }>('select current_setting($1) as d', ['data_directory'])).rows[0]!.d;
    const dir = join(dirname(dataDir), `live_${name}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dataDir);
    chownSync(dir, st.uid, st.gid);
    live[name] = dir;
    await db.query(`create tablespace ${name} location '${dir}'`);
  };
  const sums = () => Object.fromEntries(Object.entries(live).map(([n, d]) => [n, treeChecksums(d)]));

  beforeAll(async () => {
    src = await pitrSource(method === 'basebackup' ? 'tsbb' : 'tspbr', {
      method,
      tickSeconds: 1,
      beforeBackup: async (db) => {
        await makeTablespace(db, 'ts_a');
        await db.query('create table in_a (id int) with (autovacuum_enabled = off) tablespace ts_a');
        await db.query('insert into in_a select generate_series(1, 100)');
      },
    });
    first = src.backup;
    await makeTablespace(src.db, 'ts_b');
    await src.db.query('create table in_b (id int) with (autovacuum_enabled = off) tablespace ts_b');
    await src.db.query('insert into in_b select generate_series(1, 50)');
    const b = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/backups`, { type: 'full' });
    second = (await src.c.temporal.workflow.getHandle(b.body.workflowId).result()).manifest as BackupManifest;
    await src.db.query('insert into in_a select generate_series(101, 150)');
    await src.db.query('insert into in_b select generate_series(51, 80)');
    for (const r of (await src.db.query('select oid::int as oid, spcname from pg_tablespace')).rows) oids[r.spcname] = r.oid;
    await switchAndArchive(src.db);
    await src.db.query('checkpoint');
    before = sums();
  }, 300_000);
  afterAll(async () => src?.close());

  it('records every tablespace in the manifest: the first backup ts_a, the second both, with OID and location', () => {
    expect(first.tablespaces?.map((t) => [t.oid, t.name, t.location])).toEqual([[oids.ts_a, 'ts_a', live.ts_a]]);
    expect(second.tablespaces?.map((t) => [t.oid, t.name, t.location])).toEqual([
      [oids.ts_a, 'ts_a', live.ts_a],
      [oids.ts_b, 'ts_b', live.ts_b],
    ]);
    if (method === 'basebackup') {
      // One object per tablespace archive, with its sha256 and size; base.tar first; backup_manifest beside.
      expect(second.objects.map((o) => o.name)).toEqual([
        'base.tar.zst',
        `${oids.ts_a}.tar.zst`,
        `${oids.ts_b}.tar.zst`,
        'backup_manifest',
      ]);
      for (const t of second.tablespaces!) {
        expect(t.object).toMatchObject({ name: `${t.oid}.tar.zst` });
        expect(t.object!.sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(t.object!.bytes).toBeGreaterThan(0);
      }
      expect(second.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true });
      expect(second.bytes).toBe(second.objects.reduce((n, o) => n + o.bytes, 0));
    }
  });

  it('restores to the latest commit on the same host: ts_a in <dataDir>_tblspc/<oid>, ts_b where mapped, every row, the live directories untouched', async () => {
    const mine = join(src.restoreDir, 'mapped_ts_b');
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { latest: true }, tablespaceMap: { ts_b: mine } }, src.made);
    const dataDir = report.destination.dataDir;
    expect(report.backupId).toBe(second.id);
    expect(report.tablespaces).toEqual([
      { oid: oids.ts_a, name: 'ts_a', from: live.ts_a, to: `${dataDir}_tblspc/${oids.ts_a}`, explicit: false },
      { oid: oids.ts_b, name: 'ts_b', from: live.ts_b, to: mine, explicit: true },
    ]);
    const port = report.destination.port;
    expect((await src.pgs.sqlAt(port, 'select count(*), max(id) from in_a')).trim()).toBe('150|150');
    expect((await src.pgs.sqlAt(port, 'select count(*), max(id) from in_b')).trim()).toBe('80|80');
    expect(
      (
        await src.pgs.sqlAt(
          port,
          "select string_agg(spcname || '=' || pg_tablespace_location(oid), ',' order by oid) from pg_tablespace where oid > 16000",
        )
      ).trim(),
    ).toBe(`ts_a=${dataDir}_tblspc/${oids.ts_a},ts_b=${mine}`);
    await src.db.query('checkpoint');
    expect(sums()).toEqual(before);

    // Dropping the copy removes its tablespace directories too.
    const drop = await src.c.call('DELETE', `/api/v1/clusters/${src.tc.name}/restores/${report.id}`);
    expect(drop.status, JSON.stringify(drop.body)).toBe(200);
    expect(drop.body).toMatchObject({ stopped: true, removed: true });
    expect(existsSync(`${dataDir}_tblspc`)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(mine) ? readdirSync(mine) : []).toEqual([]);
  }, 300_000);

  it('refuses a mapping onto a live tablespace directory, naming the tablespace and the path', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, {
      target: { latest: true },
      tablespaceMap: { [String(oids.ts_a)]: live.ts_a },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.error.message).toContain(
      `tablespace ts_a (oid ${oids.ts_a}) mapped to primary:${live.ts_a} is node primary's tablespace directory ${live.ts_a}, which a running server owns`,
    );
  });

  it('refuses to replay from the first backup past the creation of ts_b, which it lacks, naming its live directory', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { latest: true }, backupId: first.id });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.error.message).toContain(
      `tablespace oid ${oids.ts_b} (node primary's ${live.ts_b}) was created after backup ${first.id}: replaying its creation would write into ${live.ts_b}`,
    );
    // Stopping at the first backup's end replays no creation: allowed, and ts_a comes back.
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { immediate: true }, backupId: first.id }, src.made);
    expect((await src.pgs.sqlAt(report.destination.port, 'select count(*) from in_a')).trim()).toBe('100');
    await src.db.query('checkpoint');
    expect(sums()).toEqual(before);
  }, 300_000);

  it('drills a backup with tablespaces: the scratch copy has its own, and they go with it', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, {});
    expect(res.status).toBe(202);
    const report = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as DrillReport;
    expect(report.failures).toEqual([]);
    const r = report.restores[0]!;
    expect(r.restore!.tablespaces?.map((t) => t.to)).toEqual([
      `${r.restore!.destination.dataDir}_tblspc/${oids.ts_a}`,
      `${r.restore!.destination.dataDir}_tblspc/${oids.ts_b}`,
    ]);
    expect(existsSync(`${r.restore!.destination.dataDir}_tblspc`)).toBe(false);
    await src.db.query('checkpoint');
    expect(sums()).toEqual(before);
  }, 300_000);
});
