import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { WorkflowFailedError } from '@temporalio/client';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/stack.js';
import { listKeys } from '../../adapters/storage.js';
import { baseFolder, listCatalog } from '../../adapters/catalogStore.js';
import { lockHolder } from '../../adapters/temporal.js';
import { backupInput } from '../../control/inputs.js';
import { backup } from '../../workflows/backup.js';

async function download(s3: any, bucket: string, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body.transformToByteArray());
}

describe('backup with the basebackup method', () => {
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;
  beforeAll(async () => {
    tc = testCluster('bk');
    workers = await startWorkers(tc);
    c = await clients(tc);
  });
  afterAll(async () => {
    await workers?.stop();
    await c?.close();
  });

  it('lands a full backup whose manifest and checksums match the objects in MinIO', async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(res.status).toBe(202);
    expect(res.body.workflowId).toMatch(new RegExp(`^backup/${tc.name}/`));
    const { manifest: m } = await c.temporal.workflow.getHandle(res.body.workflowId).result();

    const folder = baseFolder(tc.config.storage, tc.name, m.id);
    const keys = (await listKeys(c.s3, tc.config.storage.bucket, folder)).map((o) => o.key).sort();
    expect(keys).toEqual([`${folder}base.tar.zst`, `${folder}manifest.json`]);

    const tar = await download(c.s3, tc.config.storage.bucket, `${folder}base.tar.zst`);
    expect(m.objects).toEqual([{ name: 'base.tar.zst', bytes: tar.length, sha256: createHash('sha256').update(tar).digest('hex') }]);
    const stored = JSON.parse((await download(c.s3, tc.config.storage.bucket, `${folder}manifest.json`)).toString());
    expect(stored).toEqual(m);
    expect(m).toMatchObject({
      status: 'good',
      method: 'basebackup',
      type: 'full',
      parent: null,
      timeline: 1,
      sourceNode: 'primary',
      compression: 'zstd',
      workflowId: res.body.workflowId,
    });
    expect(m.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true, detail: 'backup successfully verified' });
    expect(m.startWalSegment).toMatch(/^00000001[0-9A-F]{16}$/);

    // PostgreSQL 15 puts the backup_manifest and the WAL needed for consistency into the stream.
    const listing = (await execa('bash', ['-c', 'zstd -dc | tar -t'], { input: tar })).stdout.split('\n');
    expect(listing).toEqual(expect.arrayContaining(['backup_label', 'backup_manifest', `pg_wal/${m.startWalSegment}`]));

    const listed = await c.call('GET', `/api/v1/clusters/${tc.name}/backups`);
    expect(listed.body.backups).toEqual([
      expect.objectContaining({ id: m.id, status: 'good', startLsn: m.startLsn, stopLsn: m.stopLsn, bytes: tar.length }),
    ]);
  });

  it('refuses a second backup while one runs, naming the running workflow, and cancelling leaves no half object', async () => {
    const slow = testCluster('bkslow', (c) => (c.backup = { ...c.backup, maxRateKBps: 2048 }));
    const slowWorkers = await startWorkers(slow);
    const sc = await clients(slow);
    try {
      const first = await sc.call('POST', `/api/v1/clusters/${slow.name}/backups`, {});
      expect(first.status).toBe(202);
      await until('the first backup to hold the lock', () => lockHolder(sc.temporal, slow.name));

      const second = await sc.call('POST', `/api/v1/clusters/${slow.name}/backups`, {});
      expect(second.status).toBe(409);
      expect(second.body.error).toMatchObject({ code: 'CLUSTER_BUSY', runningWorkflowId: first.body.workflowId });
      expect(second.body.error.message).toContain(`cluster "${slow.name}" is busy with ${first.body.workflowId}`);

      // A start that bypasses the API (a schedule, say) is refused by the workflow itself.
      const direct = await sc.temporal.workflow
        .execute(backup, {
          taskQueue: slow.config.temporal.taskQueue,
          workflowId: `backup/${slow.name}/direct`,
          args: [backupInput(slow.config, slow.name, 'full', 'test')],
        })
        .catch((e) => e);
      expect(direct).toBeInstanceOf(WorkflowFailedError);
      expect(direct.cause.type).toBe('ClusterBusyError');
      expect(direct.cause.message).toContain(`busy with ${first.body.workflowId}`);

      // Cancel the running one once bytes flow: the tool dies and the upload is aborted.
      const handle = sc.temporal.workflow.getHandle(first.body.workflowId);
      await until('bytes to flow', async () => {
        const d = await handle.describe();
        const hb = d.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0]?.data;
        return hb && JSON.parse(Buffer.from(hb).toString()).bytes > 0;
      });
      await handle.cancel();
      const err = await handle.result().catch((e) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((await handle.describe()).status.name).toBe('CANCELLED');
      const ps = (await execa('ps', ['-eo', 'args'])).stdout;
      expect(ps).not.toContain(`pgdr ${slow.name}`);
      expect(ps.split('\n').filter((l) => l.includes('pg_basebackup') && l.includes('--max-rate=2048'))).toEqual([]);
      expect(await listKeys(sc.s3, slow.config.storage.bucket, `${slow.config.storage.prefix}/`)).toEqual([]);
      expect(await until('the lock to be released', async () => (await lockHolder(sc.temporal, slow.name)) === null)).toBe(true);
    } finally {
      await slowWorkers.stop();
      await sc.close();
    }
  });

  it('fails clearly, writing nothing, when no standby streams and the config asks for one', async () => {
    const only = testCluster('bknostby', (c) => {
      c.backup = { ...c.backup, from: 'standby' };
      c.nodes = { primary: c.nodes.primary };
    });
    const w = await startWorkers(only);
    const oc = await clients(only);
    try {
      const res = await oc.call('POST', `/api/v1/clusters/${only.name}/backups`, {});
      const err = await oc.temporal.workflow
        .getHandle(res.body.workflowId)
        .result()
        .catch((e) => e);
      expect(err.cause.type).toBe('NoBackupSourceError');
      expect(err.cause.message).toBe(
        `no streaming standby to back up cluster "${only.name}" from: primary=primary\nHINT: is a standby streaming? set backup.from: primary to use the primary`,
      );
      expect(await listCatalog(oc.s3, only.config.storage, only.name)).toEqual([]);
    } finally {
      await w.stop();
      await oc.close();
    }
  });
});
