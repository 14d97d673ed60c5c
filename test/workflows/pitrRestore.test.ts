/**
 * Point-in-time restore with the basebackup method, end to end on a Postgres server of the
 * test's own: rows committed every 200 ms after a backup, then restores (started through the
 * API) to a time and to an LSN in the middle must hold exactly the rows committed up to the
 * target. The pre-flight refuses bad targets and occupied destinations with 422 before
 * anything exists; replaceExisting keeps the old directory until the restore is proven.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import type pg from 'pg';
import { rootFailure, type TestCluster } from '../helpers/cluster.js';
import { switchAndArchive, timeAfter, type Tick } from '../helpers/ticks.js';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { findArchived } from '../../adapters/walStore.js';
import { until } from '../helpers/stack.js';
import type { RestoreReport } from '../../domain/restore.js';
import { prefetchSpool } from '../../domain/walAgent.js';
import { activePrefetchers } from '../../adapters/walPrefetcher.js';

describe('point-in-time restore (basebackup method)', () => {
  let src: PitrSource;
  let tc: TestCluster;
  let c: PitrSource['c'];
  let db: pg.Client;
  let ticks: Tick[];
  let restoreDir: string;
  let made: string[];
  let rows: PitrSource['rows'];
  let pgs: PitrSource['pgs'];

  beforeAll(async () => {
    src = await pitrSource('pitr');
    ({ tc, c, db, ticks, restoreDir, made, rows, pgs } = src);
  }, 240_000);
  afterAll(async () => src?.close());

  it('restores to a time in the middle: exactly the rows committed at or before it', async () => {
    const k = Math.floor(ticks.length / 2);
    const time = timeAfter(ticks, k);
    const { report } = await restoreAndWait(c, tc.name, { target: { time } }, made);
    expect(await rows(report.destination.port)).toBe(`${k}|1|${k}`);
    expect(report).toMatchObject({
      method: 'basebackup',
      action: 'pause',
      stop: { state: 'paused' },
      verification: { tool: 'pg_verifybackup', ok: true },
    });
    expect(Date.parse(report.stop.lastCommitTime!)).toBeLessThanOrEqual(Date.parse(time));
    expect(Date.parse(report.stop.lastCommitTime!)).toBeGreaterThanOrEqual(Date.parse(ticks[k - 1]!.before));
    expect(report.seconds.total).toBeGreaterThan(0);
    expect(report.seconds.replay).toBeGreaterThan(0);
    // Replay took its segments from the prefetch spool, which is gone with the prefetcher.
    expect(report.stop.prefetch).toMatchObject({ corrupt: 0 });
    expect(report.stop.prefetch!.served).toBeGreaterThanOrEqual(1);
    expect(report.stop.prefetch!.fetched).toBeGreaterThanOrEqual(report.stop.prefetch!.served);
    expect(existsSync(prefetchSpool(report.destination.dataDir))).toBe(false);
    expect(await activePrefetchers()).not.toContain(report.destination.dataDir);
    // The copy does not archive into the cluster's archive, nor follow its primary.
    expect((await pgs.sqlAt(report.destination.port, `select current_setting('archive_mode'), pg_is_in_recovery()`)).trim()).toBe('off|t');
    // The report is stored and listed.
    const listed = await c.call('GET', `/api/v1/clusters/${tc.name}/restores`);
    expect(listed.body.restores.map((r: RestoreReport) => r.id)).toContain(report.id);
  });

  it('names in its 202 the backup, directory and port the restored instance really uses', async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { immediate: true } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    made.push(res.body.destination.dataDir);
    const named = res.body.destination.port as number;
    expect(named).toBeGreaterThan(0);
    const report = (await c.temporal.workflow.getHandle(res.body.workflowId).result()) as RestoreReport;
    expect(report.destination).toEqual(res.body.destination);
    expect(report.backupId).toBe(res.body.backupId);
    expect(report.id).toBe(res.body.restoreId);
    // The server itself listens there, and its own postmaster.pid says so.
    expect((await pgs.sqlAt(named, 'show port')).trim()).toBe(String(named));
    expect(Number(readFileSync(join(report.destination.dataDir, 'postmaster.pid'), 'utf8').split('\n')[3])).toBe(named);
  });

  it('never moves a port its 202 named: taken after the 202, the restore fails naming it and removes what it made', async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { immediate: true } });
    expect(res.status).toBe(202);
    const taken = res.body.destination.port as number;
    const dir = res.body.destination.dataDir as string;
    // Someone else binds the named port before the instance starts (it downloads first).
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(taken, resolve));
    try {
      const cause = await rootFailure(c.temporal, res.body.workflowId);
      expect(cause.type).toBe('PortUnavailableError');
      expect(cause.message).toContain(`port ${taken} on node "primary" is not available to the server in ${dir}`);
      expect(existsSync(dir)).toBe(false);
    } finally {
      squatter.close();
    }
  });

  it('restores to an lsn: exactly the rows committed before it', async () => {
    const k = Math.floor(ticks.length * 0.7);
    const lsn = ticks[k - 1]!.lsnAfter;
    const { report } = await restoreAndWait(c, tc.name, { target: { lsn }, action: 'promote' }, made);
    expect(await rows(report.destination.port)).toBe(`${k}|1|${k}`);
    expect(report.stop.state).toBe('promoted');
    // Promoted: writable, and the target settings will not apply again.
    expect((await pgs.sqlAt(report.destination.port, `insert into ticks values (100000, now()); select pg_is_in_recovery()`)).trim()).toBe(
      'f',
    );
  });

  it('judges a request read-only with ?dryRun=true: 200 with the plan or 422 with the problems, no restore started, nothing created', async () => {
    const before = readdirSync(restoreDir);
    const runs = `WorkflowId STARTS_WITH "pitrRestore/${tc.name}/"`;
    const count0 = (await c.temporal.workflow.count(runs)).count;
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores?dryRun=true`, { target: { immediate: true } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({
      dryRun: true,
      backupId: src.backup.id,
      preflightWorkflowId: expect.stringMatching(new RegExp(`^restorePreflight/${tc.name}/`)),
    });
    expect(res.body.destination.port).toBeGreaterThan(0);
    const refused = await c.call('POST', `/api/v1/clusters/${tc.name}/restores?dryRun=true`, {
      target: { latest: true },
      backupId: '20200101T000000000Z-F',
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain('backupId "20200101T000000000Z-F" is not a good backup of the cluster');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await c.temporal.workflow.count(runs)).count).toBe(count0);
    expect(readdirSync(restoreDir)).toEqual(before);
  });

  it('refuses a target before the earliest backup, in the future, or an unknown backup, with 422 and nothing created', async () => {
    const before = readdirSync(restoreDir);
    const early = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, {
      target: { time: new Date(Date.parse(src.backup.startTime) - 60_000).toISOString() },
    });
    expect(early.status).toBe(422);
    expect(early.body.error.code).toBe('RESTORE_PREFLIGHT_FAILED');
    expect(early.body.error.message).toMatch(/is before the earliest recoverable point, the stop of backup \S+ at /);
    expect(early.body.error.message).toMatch(/recoverable range on timeline 1: .* to .*\(lsn /);

    const future = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, {
      target: { time: new Date(Date.now() + 3600_000).toISOString() },
    });
    expect(future.status).toBe(422);
    expect(future.body.error.message).toMatch(/is in the future \(now /);

    const unknown = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, {
      target: { latest: true },
      backupId: '20200101T000000000Z-F',
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.message).toContain('backupId "20200101T000000000Z-F" is not a good backup of the cluster');

    const bad = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { time: '2026-11-20 10:00' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('body.target.time');
    const two = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { latest: true, immediate: true } });
    expect(two.status).toBe(400);
    expect(two.body.error.message).toContain('exactly one of time, lsn, name, xid, latest, immediate');

    expect(readdirSync(restoreDir)).toEqual(before);
    // Each refused request's run planned, refused and ended failed with that refusal; none is
    // doing work, and only the restores that were answered 202 and proven completed.
    const runs = `WorkflowId STARTS_WITH "pitrRestore/${tc.name}/"`;
    await until(
      'the refused runs to close',
      async () => (await c.temporal.workflow.count(`${runs} AND ExecutionStatus = 'Running'`)).count === 0,
      30_000,
    );
    expect((await c.temporal.workflow.count(`${runs} AND ExecutionStatus = 'Completed'`)).count).toBe(made.length);
    for (const r of [early, future, unknown]) {
      expect(r.body.error.workflowId).toMatch(new RegExp(`^pitrRestore/${tc.name}/`));
      const d = await c.temporal.workflow.getHandle(r.body.error.workflowId).describe();
      expect(d.status.name).toBe('FAILED');
      const err = await c.temporal.workflow
        .getHandle(r.body.error.workflowId)
        .result()
        .then(
          () => null,
          (e: { cause?: { type?: string } }) => e,
        );
      expect(err?.cause?.type).toBe('RestorePreflightError');
    }
  });

  it('refuses a non-empty destination; with replaceExisting and confirm the old directory survives until the restore is proven', async () => {
    const dir = join(restoreDir, 'occupied');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'precious.txt'), 'keep me');
    const refused = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, {
      target: { immediate: true },
      destination: { dataDir: dir },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain(`destination primary:${dir} is not empty (it holds files)`);
    const noConfirm = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, {
      target: { immediate: true },
      destination: { dataDir: dir },
      replaceExisting: true,
    });
    expect(noConfirm.status).toBe(422);
    expect(noConfirm.body.error.message).toContain(`replaceExisting needs confirm "${tc.name}" (got none)`);
    expect(existsSync(join(dir, 'precious.txt'))).toBe(true);

    // Over the running, paused copy of the first test: stopped, renamed aside, kept until proven.
    const first = made[0]!;
    const k = Math.floor(ticks.length / 4);
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, {
      target: { time: timeAfter(ticks, k) },
      destination: { dataDir: first },
      replaceExisting: true,
      confirm: tc.name,
    });
    expect(res.status).toBe(202);
    const handle = c.temporal.workflow.getHandle(res.body.workflowId);
    let sawOld = false;
    let old: string | null = null;
    for (;;) {
      const p = await handle.query<{ step: string; oldDataDir: string | null }>('progress').catch(() => null);
      if (p?.oldDataDir) {
        old = p.oldDataDir;
        if (p.step.startsWith('replaying') || p.step.startsWith('downloading')) sawOld ||= existsSync(join(old, 'PG_VERSION'));
      }
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const report = (await handle.result()) as RestoreReport;
    expect(sawOld).toBe(true);
    expect(report.replaced).toEqual({ oldDataDir: old, removed: true });
    expect(existsSync(old!)).toBe(false);
    expect(await rows(report.destination.port)).toBe(`${k}|1|${k}`);
  });

  it('cancelled mid-replay, stops its instance and removes the directory it created', async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { time: timeAfter(ticks, 3) } });
    expect(res.status).toBe(202);
    const dir = res.body.destination.dataDir as string;
    const handle = c.temporal.workflow.getHandle(res.body.workflowId);
    let pid: number | null = null;
    for (let i = 0; ; i++) {
      const p = await handle.query<{ step: string }>('progress');
      if (p.step.startsWith('replaying')) break;
      if (i > 3000) throw new Error(`never reached replay: ${p.step}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    if (existsSync(join(dir, 'postmaster.pid'))) pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    await handle.cancel();
    await expect(handle.result()).rejects.toThrow(/cancel/i);
    expect(existsSync(dir)).toBe(false);
    // No prefetcher or spool outlives it.
    expect(existsSync(prefetchSpool(dir))).toBe(false);
    expect(await activePrefetchers()).not.toContain(dir);
    expect(pid).not.toBeNull();
    // Gone, or a zombie waiting for a reaper that never comes in this container.
    const state = existsSync(`/proc/${pid}/status`) ? /State:\s+(\w)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] : 'gone';
    expect(['gone', 'Z']).toContain(state);
  });

  it('restores to a named restore point: the rows before it, none after', async () => {
    await db.query(`insert into ticks values (300001, now())`);
    await db.query(`select pg_create_restore_point('before-300002')`);
    await db.query(`insert into ticks values (300002, now())`);
    await switchAndArchive(db);
    const { report } = await restoreAndWait(c, tc.name, { target: { name: 'before-300002' } }, made);
    expect(
      (
        await pgs.sqlAt(
          report.destination.port,
          'select count(*) filter (where id = 300001), count(*) filter (where id = 300002) from ticks',
        )
      ).trim(),
    ).toBe('1|0');
    const missing = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { name: 'no-such-point' } });
    expect(missing.status).toBe(422);
    expect(missing.body.error.message).toContain('restore point "no-such-point" was not found in the archived WAL up to ');
  });

  it('refuses a target after a gap in the archive, naming the missing segment', async () => {
    // Last: this breaks the archive for good. Remove one segment between the backup and the end,
    // with a later one archived behind it.
    await db.query(`insert into ticks values (200000, now())`);
    await switchAndArchive(db);
    const k = Math.floor(ticks.length * 0.9);
    const seg = (await db.query(`select pg_walfile_name($1::pg_lsn) as s`, [ticks[k - 1]!.lsnAfter])).rows[0].s as string;
    const key = await findArchived({ config: tc.config, s3: c.s3 }, tc.name, seg);
    expect(key).toBeTruthy();
    await c.s3.send(new DeleteObjectCommand({ Bucket: tc.config.storage.bucket, Key: key! }));
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { time: timeAfter(ticks, k) } });
    expect(res.status).toBe(422);
    expect(res.body.error.message).toContain(`WAL segment ${seg} is missing from the archive`);
  });
});
