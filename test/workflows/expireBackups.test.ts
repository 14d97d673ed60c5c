import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { pitrSource, type PitrSource } from '../helpers/restore.js';
import { switchAndArchive, writeTicks } from '../helpers/ticks.js';
import { listCatalog, walFolder } from '../../adapters/catalogStore.js';
import { listKeys } from '../../adapters/storage.js';
import { applyExpiry } from '../../activities/steps/retention.js';
import { backupInput, defaultDestination, restoreInput } from '../../control/inputs.js';
import { backup } from '../../workflows/backup.js';
import { restorePreflight } from '../../workflows/restorePreflight.js';
import type { BackupManifest } from '../../domain/catalog.js';
import type { RestoreRequest } from '../../domain/restore.js';
import type { TimelineWindow } from '../../domain/walCheck.js';
import { unlessRefused } from '../../workflows/lock.js';

describe('expireBackups', () => {
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;
  beforeAll(async () => {
    // Count retention alone: minWindow (default 7d) would keep every backup these tests take.
    tc = testCluster('exp', (cl) => (cl.retention = { fullCount: 2, minWindow: '0s' }));
    workers = await startWorkers(tc);
    c = await clients(tc);
  });
  afterAll(async () => {
    await workers?.stop();
    await c?.close();
  });

  it('with keep=2 and 4 fulls removes the 2 oldest and their WAL; a dry run first removes nothing', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = unlessRefused(
        await c.temporal.workflow.execute(backup, {
          taskQueue: tc.config.temporal.taskQueue,
          workflowId: `backup/${tc.name}/seed-${i}`,
          args: [{ ...backupInput(tc.config, tc.name, 'full', 'test'), expire: false }],
        }),
      );
      ids.push(r.manifest.id);
    }
    const catalog = await listCatalog(c.s3, tc.config.storage, tc.name);
    const segs = catalog.map((e) => e.manifest!.startWalSegment);
    // WAL as the archive would hold it: each backup's start segment, one before, a history file.
    const before = `${segs[0]!.slice(0, 16)}${(parseInt(segs[0]!.slice(16), 16) - 1).toString(16).toUpperCase().padStart(8, '0')}`;
    const wal = [before, ...segs, '00000002.history'];
    for (const name of wal)
      await c.s3.send(
        new PutObjectCommand({ Bucket: tc.config.storage.bucket, Key: `${walFolder(tc.config.storage, tc.name)}${name}`, Body: 'x' }),
      );
    const allKeys = async () => (await listKeys(c.s3, tc.config.storage.bucket, `${tc.config.storage.prefix}/`)).map((o) => o.key).sort();
    const snapshot = await allKeys();

    const dry = await c.call('POST', `/api/v1/clusters/${tc.name}/expire`, { dryRun: true });
    expect(dry.status).toBe(202);
    const plan = await c.temporal.workflow.getHandle(dry.body.workflowId).result();
    expect(plan.dryRun).toBe(true);
    expect(plan.plan.expire.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 2));
    expect(plan.plan.keep).toEqual(ids.slice(2));
    expect(plan.walObjects).toBe(3);
    expect(await allKeys()).toEqual(snapshot);

    const real = await c.call('POST', `/api/v1/clusters/${tc.name}/expire`, { dryRun: false });
    const done = await c.temporal.workflow.getHandle(real.body.workflowId).result();
    expect(done.deletedBackups).toEqual(ids.slice(0, 2));
    expect((await listCatalog(c.s3, tc.config.storage, tc.name)).map((e) => [e.id, e.status])).toEqual(
      ids.slice(2).map((id) => [id, 'good']),
    );
    const walLeft = (await listKeys(c.s3, tc.config.storage.bucket, walFolder(tc.config.storage, tc.name)))
      .map((o) => o.key.split('/').pop())
      .sort();
    expect(walLeft).toEqual([segs[2], segs[3], '00000002.history'].sort());
  });

  it('refuses to prune WAL that a kept backup still needs, whatever cutoff it is given', async () => {
    const catalog = await listCatalog(c.s3, tc.config.storage, tc.name);
    const oldest = catalog[0]!.manifest!.startWalSegment;
    const before = (await listKeys(c.s3, tc.config.storage.bucket, walFolder(tc.config.storage, tc.name))).length;
    await expect(applyExpiry({ config: tc.config, s3: c.s3 }, tc.name, [], 'FFFFFFFFFFFFFFFFFFFFFFFF')).rejects.toThrow(
      `refusing to prune wal before FFFFFFFFFFFFFFFFFFFFFFFF: backup starting at ${oldest} stays and needs it`,
    );
    expect((await listKeys(c.s3, tc.config.storage.bucket, walFolder(tc.config.storage, tc.name))).length).toBe(before);
  });

  it('runs after each good backup and never leaves fewer than fullCount', async () => {
    const r = unlessRefused(
      await c.temporal.workflow.execute(backup, {
        taskQueue: tc.config.temporal.taskQueue,
        workflowId: `backup/${tc.name}/after`,
        args: [backupInput(tc.config, tc.name, 'full', 'test')],
      }),
    );
    expect(r.expired?.deletedBackups.length).toBe(1);
    const catalog = await listCatalog(c.s3, tc.config.storage, tc.name);
    expect(catalog).toHaveLength(2);
    expect(catalog.at(-1)!.id).toBe(r.manifest.id);
  });
});

describe('expireBackups and the recovery window', () => {
  let src: PitrSource;
  beforeAll(async () => {
    src = await pitrSource('expwin', { tickSeconds: 4, adjust: (cl) => (cl.retention = { fullCount: 1, minWindow: '0s' }) });
  }, 240_000);
  afterAll(async () => src?.close());

  const windowStart = async (): Promise<{ earliest: TimelineWindow['earliest']; windowAsOf: string }> => {
    const w = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/recovery-window`);
    expect(w.status).toBe(200);
    return { earliest: (w.body.timelines as TimelineWindow[]).find((t) => t.timeline === 1)!.earliest, windowAsOf: w.body.windowAsOf };
  };

  it('moves the advertised window start and metric past the backup retention expired, and the restore pre-flight agrees with it', async () => {
    const { tc, c, db } = src;
    const first = src.backup;
    // 1. A check: the window starts at the first backup's stop.
    const chk = await c.call('POST', `/api/v1/clusters/${tc.name}/wal-archive/check`, {});
    expect(chk.status).toBe(202);
    await c.temporal.workflow.getHandle(chk.body.workflowId).result();
    expect((await windowStart()).earliest).toEqual({ lsn: first.stopLsn, time: first.stopTime, backupId: first.id });

    // 2. A second full: count retention (fullCount 1, no minWindow) expires the first right after it.
    const b = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    const done = (await c.temporal.workflow.getHandle(b.body.workflowId).result()) as {
      manifest: BackupManifest;
      expired: { deletedBackups: string[] };
    };
    const second = done.manifest;
    expect(done.expired.deletedBackups).toEqual([first.id]);

    // 3. The window and its metric now start at the second backup's stop.
    const after = await windowStart();
    expect(after.earliest).toEqual({ lsn: second.stopLsn, time: second.stopTime, backupId: second.id });
    expect(Date.parse(after.windowAsOf)).toBeGreaterThanOrEqual(Date.parse(second.stopTime));
    const metrics = await c.text('GET', '/metrics');
    expect(metrics.status).toBe(200);
    const m = new RegExp(`^pgdr_recovery_window_start_timestamp_seconds\\{cluster="${tc.name}",timeline="1"\\} (\\S+)$`, 'm').exec(
      metrics.body,
    );
    expect(m && Number(m[1])).toBe(Date.parse(second.stopTime) / 1000);

    // 4. Commits after the new start, archived, so a target just after it is reachable.
    await writeTicks(db, 'later', 2);
    await switchAndArchive(db);

    // 5. Just after the new start: the pre-flight plans a restore from the second backup.
    const just = new Date(Date.parse(second.stopTime) + 1).toISOString();
    const request: RestoreRequest = {
      cluster: tc.name,
      target: { time: just },
      destination: defaultDestination(tc.config, tc.name, `expwin-${Date.now()}`),
      action: 'pause',
      inclusive: true,
      replaceExisting: false,
    };
    const outcome = await c.temporal.workflow.execute(restorePreflight, {
      taskQueue: tc.config.temporal.taskQueue,
      workflowId: `restorePreflight/${tc.name}/just-after`,
      args: [{ request, destinationQueue: restoreInput(tc.config, request, 'test').destinationQueue }],
    });
    expect(outcome.problems).toEqual([]);
    expect(outcome.plan?.backup.id).toBe(second.id);

    // 6. Before it (a commit the expired backup covered): 422, with the range the window advertises.
    const k = Math.floor(src.ticks.length / 2);
    const early = src.ticks[k]!.after;
    expect(Date.parse(early)).toBeGreaterThan(Date.parse(first.stopTime));
    const refused = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { time: early } });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain(
      `target time ${early} is before the earliest recoverable point, the stop of backup ${second.id} at ${second.stopTime} (lsn ${second.stopLsn}); ` +
        `recoverable range on timeline 1: ${after.earliest!.time} (lsn ${after.earliest!.lsn}, backup ${after.earliest!.backupId}) to `,
    );
  });
});
