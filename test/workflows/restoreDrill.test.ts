/**
 * Restore drills end to end on a Postgres server of the test's own: a drill passes every check
 * and leaves nothing behind; a failing SQL assertion and a corrupted backup object each fail the
 * drill, naming what failed with actual and expected values, and the teardown still happens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { pitrSource, type PitrSource } from '../helpers/restore.js';
import { clients } from '../helpers/cluster.js';
import { switchAndArchive } from '../helpers/ticks.js';
import { baseFolder } from '../../adapters/catalogStore.js';
import { reconcileSchedules } from '../../control/schedules.js';
import { parseConfig } from '../../config/load.js';
import type { DrillReport } from '../../domain/drill.js';

describe('restore drill', () => {
  let src: PitrSource;
  const drill = async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, {});
    expect(res.status).toBe(202);
    return src.c.temporal.workflow.getHandle(res.body.workflowId);
  };
  const noScratch = () => (existsSync(src.restoreDir) ? readdirSync(src.restoreDir) : []).filter((d) => d.includes('-drill-'));

  beforeAll(async () => {
    src = await pitrSource('drill', {
      tickSeconds: 3,
      beforeBackup: (db) => db.query('create table poison (id int)').then(() => undefined),
      adjust: (cl) => {
        cl.drill = {
          cron: null,
          largestTables: 3,
          assertions: [
            { name: 'ticks restored', sql: 'select count(*) from ticks', expect: '> 0' },
            { name: 'ticks fresh', sql: 'select max(at) from ticks', expect: 'fresh within 1h' },
            { name: 'no poison', sql: 'select count(*) from poison', expect: '= 0' },
          ],
        };
      },
    });
  }, 240_000);
  afterAll(async () => src?.close());

  it('passes every check, stores its report, and leaves no scratch instance behind', async () => {
    const report = (await (await drill()).result()) as DrillReport;
    expect(report.ok).toBe(true);
    expect(report.failures).toEqual([]);
    const r = report.restores[0]!;
    expect(r).toMatchObject({ backupId: src.backup.id, role: 'newest', error: null, teardown: { removed: true } });
    const kinds = r.checks.map((c) => `${c.kind}:${c.name}:${c.ok}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'verification:pg_verifybackup:true',
        'checksums:data_checksums:true',
        'amcheck:pg_amcheck --all:true',
        'assertion:ticks restored:true',
        'assertion:ticks fresh:true',
        'assertion:no poison:true',
        'rowcount:postgres.public.ticks:true',
      ]),
    );
    expect(r.checks.find((c) => c.name === 'ticks restored')!.actual).toBe(String(src.ticks.length));
    expect(report.rtoSeconds).toBeGreaterThan(r.restore!.seconds.replay);
    expect(Date.parse(r.lastCommitTime!)).toBeGreaterThanOrEqual(Date.parse(src.ticks.at(-1)!.before));
    expect(report.rpoSeconds).toBeGreaterThan(0);
    // Gone: no directory, no server on its port.
    expect(existsSync(r.restore!.destination.dataDir)).toBe(false);
    await expect(src.pgs.sqlAt(r.restore!.destination.port, 'select 1')).rejects.toThrow();
    expect(noScratch()).toEqual([]);

    const list = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills`);
    expect(list.body.drills.map((d: { id: string; ok: boolean }) => [d.id, d.ok])).toEqual([[report.id, true]]);
    const one = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills/${report.id}`);
    expect(one.body.restores[0].checks.length).toBe(r.checks.length);
    expect((await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills/20200101T000000000Z`)).status).toBe(404);
    const page = await src.c.text('GET', `/api/v1/clusters/${src.tc.name}/drills/report.html`);
    expect(page.contentType).toContain('text/html');
    expect(page.body).toContain('<polyline');
    expect(page.body).toContain(report.id);
    const metrics = (await src.c.text('GET', '/metrics')).body;
    expect(metrics).toContain(`pgdr_drill_last_success{cluster="${src.tc.name}"} 1`);
    expect(metrics).toMatch(new RegExp(`pgdr_drill_last_rto_seconds\\{cluster="${src.tc.name}"\\} [\\d.]+`));
    // A whole drill (restore, replay, checks, teardown): 122 s at a load average of 14 on 2 cores.
  }, 300_000);

  it('fails on a failing SQL assertion, naming it with its actual and expected values', async () => {
    await src.db.query('insert into poison values (1)');
    await switchAndArchive(src.db);
    const handle = await drill();
    await expect(handle.result()).rejects.toThrow();
    const d = await handle.describe();
    expect(d.status.name).toBe('FAILED');
    const list = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills`);
    const last = list.body.drills.at(-1);
    expect(last.ok).toBe(false);
    expect(last.failures).toEqual([`assertion "no poison" failed on backup ${src.backup.id}: actual 1, expected = 0`]);
    const op = await src.c.call('GET', `/api/v1/operations/${d.workflowId}`);
    expect(op.body.failure).toMatchObject({ type: 'DrillFailedError' });
    expect(op.body.failure.message).toContain('assertion "no poison" failed');
    expect(noScratch()).toEqual([]);
  });

  it('fails at verification when a backup object is corrupt, naming the object, and still tears down', async () => {
    const key = baseFolder(src.tc.config.storage, src.tc.name, src.backup.id) + src.backup.objects[0]!.name;
    await src.c.s3.send(new PutObjectCommand({ Bucket: src.tc.config.storage.bucket, Key: key, Body: Buffer.alloc(4096, 7) }));
    const handle = await drill();
    await expect(handle.result()).rejects.toThrow();
    const report = (await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills`)).body.drills.at(-1);
    expect(report.ok).toBe(false);
    expect(report.failures[0]).toContain(`is corrupt at s3://${src.tc.config.storage.bucket}/${key}`);
    const full = (await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills/${report.id}`)).body as DrillReport;
    expect(full.restores[0]!.checks[0]).toMatchObject({ kind: 'verification', ok: false });
    expect(full.restores[0]!.teardown).toEqual({ removed: true });
    expect(noScratch()).toEqual([]);
  });

  it('is scheduled from the config with its cron and a next run time', async () => {
    const raw = JSON.parse(JSON.stringify(src.tc.config));
    raw.clusters[src.tc.name].drill.cron = '0 3 1 * *';
    const cfg = parseConfig(raw);
    try {
      await reconcileSchedules(src.c.temporal, cfg, [src.tc.name]);
      const d = await src.c.temporal.schedule.getHandle(`pgdr/${src.tc.name}/restore-drill`).describe();
      expect(d.info.nextActionTimes.length).toBeGreaterThan(0);
      expect(d.info.nextActionTimes.every((t) => t.getUTCDate() === 1 && t.getUTCHours() === 3 && t.getUTCMinutes() === 0)).toBe(true);
      expect(d.action).toMatchObject({ workflowType: 'restoreDrill' });
      const api = await clients({ ...src.tc, config: cfg });
      const listed = await api.call('GET', `/api/v1/clusters/${src.tc.name}/schedules`);
      await api.close();
      expect(listed.body.schedules.map((s: { name: string }) => s.name)).toContain('restore-drill');
    } finally {
      raw.clusters[src.tc.name].drill.cron = null;
      await reconcileSchedules(src.c.temporal, parseConfig(raw), [src.tc.name]);
    }
  });
});
