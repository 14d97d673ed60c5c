/**
 * SIGKILL the worker while pg_basebackup streams: after a new worker starts, the workflow
 * finishes with exactly one good catalog entry and no leftover objects or upload parts.
 */
import { describe, expect, it } from 'vitest';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { spawnWorker, waitForLine } from '../helpers/process.js';
import { clients, testCluster } from '../helpers/cluster.js';
import { baseFolder, listCatalog } from '../../adapters/catalogStore.js';
import { objectNameFor } from '../../activities/steps/basebackup.js';
import { listKeys } from '../../adapters/storage.js';
import { backupInput } from '../../control/inputs.js';
import { backup } from '../../workflows/backup.js';
import { unlessRefused } from '../../workflows/lock.js';

describe('backup when the worker dies', () => {
  it('finishes after a restart with exactly one good catalog entry', async () => {
    const tc = testCluster('bkcrash', (c) => (c.backup = { ...c.backup, maxRateKBps: 4096 }));
    const c = await clients(tc);
    let worker = spawnWorker(tc.configPath);
    try {
      await waitForLine(worker, 'pgdr worker polling');
      const handle = await c.temporal.workflow.start(backup, {
        taskQueue: tc.config.temporal.taskQueue,
        workflowId: `backup/${tc.name}/crash`,
        args: [backupInput(tc.config, tc.name, 'full', 'test')],
      });

      // Wait until the upload is really under way, then kill the worker outright.
      for (let i = 0; ; i++) {
        const d = await handle.describe();
        const hb = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'uploadBaseBackup')?.heartbeatDetails?.payloads?.[0]?.data;
        if (hb && JSON.parse(Buffer.from(hb).toString()).bytes > 1024 * 1024) break;
        if (i > 240) throw new Error('upload never started');
        await new Promise((r) => setTimeout(r, 250));
      }
      process.kill(-worker.pid!, 'SIGKILL');
      await worker;

      worker = spawnWorker(tc.configPath);
      await waitForLine(worker, 'pgdr worker polling');
      const { manifest } = unlessRefused(await handle.result());

      const catalog = await listCatalog(c.s3, tc.config.storage, tc.name);
      expect(catalog.map((e) => [e.id, e.status])).toEqual([[manifest.id, 'good']]);
      expect(manifest.verification?.ok).toBe(true);
      const keys = (await listKeys(c.s3, tc.config.storage.bucket, `${tc.config.storage.prefix}/`)).map((o) => o.key.split('/').pop());
      expect(keys.sort()).toEqual(['base.tar.zst', 'manifest.json']);
      // MinIO lists multipart uploads by exact key only: ask for the backup's object.
      const key = baseFolder(tc.config.storage, tc.name, manifest.id) + objectNameFor(tc.config.clusters[tc.name]!.backup.compression);
      const uploads = await c.s3.send(new ListMultipartUploadsCommand({ Bucket: tc.config.storage.bucket, Prefix: key }));
      expect(uploads.Uploads ?? []).toEqual([]);
      // The history shows the retry: the first attempt timed out on its heartbeat.
      const history = await handle.fetchHistory();
      const timedOut = history.events!.filter(
        (e) =>
          e.activityTaskTimedOutEventAttributes ||
          (e.activityTaskStartedEventAttributes?.attempt && e.activityTaskStartedEventAttributes.attempt > 1),
      );
      expect(timedOut.length).toBeGreaterThan(0);
      const attempts = Math.max(...history.events!.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
      console.log(
        `FAULT | worker SIGKILLed mid-backup (uploading) | backup ${manifest.id} completed good and verified after a new worker started (upload attempt ${attempts}); exactly one catalog entry; no partial object or multipart upload left`,
      );
    } finally {
      if (worker.pid) process.kill(-worker.pid, 'SIGTERM');
      await worker;
      await c.close();
    }
  });
});
