import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { listCatalog, walFolder } from '../../activities/catalog.js';
import { listKeys } from '../../activities/storage.js';
import { applyExpiry } from '../../activities/retention.js';
import { backupInput } from '../../config/inputs.js';
import { backup } from '../../workflows/backup.js';
import { unlessRefused } from '../../workflows/lock.js';

describe('expireBackups', () => {
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;
  beforeAll(async () => {
    tc = testCluster('exp', (cl) => (cl.retention = { fullCount: 2 }));
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
      const r = unlessRefused(await c.temporal.workflow.execute(backup, {
        taskQueue: tc.config.temporal.taskQueue,
        workflowId: `backup/${tc.name}/seed-${i}`,
        args: [{ ...backupInput(tc.config, tc.name, 'full', 'test'), expire: false }],
      }));
      ids.push(r.manifest.id);
    }
    const catalog = await listCatalog(c.s3, tc.config.storage, tc.name);
    const segs = catalog.map((e) => e.manifest!.startWalSegment);
    // WAL as the archive would hold it: each backup's start segment, one before, a history file.
    const before = `${segs[0]!.slice(0, 16)}${(parseInt(segs[0]!.slice(16), 16) - 1).toString(16).toUpperCase().padStart(8, '0')}`;
    const wal = [before, ...segs, '00000002.history'];
    for (const name of wal) await c.s3.send(new PutObjectCommand({ Bucket: tc.config.storage.bucket, Key: `${walFolder(tc.config.storage, tc.name)}${name}`, Body: 'x' }));
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
    expect((await listCatalog(c.s3, tc.config.storage, tc.name)).map((e) => [e.id, e.status])).toEqual(ids.slice(2).map((id) => [id, 'good']));
    const walLeft = (await listKeys(c.s3, tc.config.storage.bucket, walFolder(tc.config.storage, tc.name))).map((o) => o.key.split('/').pop()).sort();
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
    const r = unlessRefused(await c.temporal.workflow.execute(backup, { taskQueue: tc.config.temporal.taskQueue, workflowId: `backup/${tc.name}/after`, args: [backupInput(tc.config, tc.name, 'full', 'test')] }));
    expect(r.expired?.deletedBackups.length).toBe(1);
    const catalog = await listCatalog(c.s3, tc.config.storage, tc.name);
    expect(catalog).toHaveLength(2);
    expect(catalog.at(-1)!.id).toBe(r.manifest.id);
  });
});
