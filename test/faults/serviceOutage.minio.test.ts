/**
 * MinIO stopped for 30 s in the middle of a backup's upload, on a MinIO of the test's own (the
 * shared one serves every other test file): the upload fails, Temporal retries it after its
 * backoff, the retry waits for storage (heartbeating), and the backup completes, verified, listed once, with no partial object or multipart upload
 * left behind. WAL archived during the outage is not lost: the archiver retries and the
 * archive check finds no gap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgresWithBigTable, slowBackups } from '../helpers/postgres.js';
import { ownMinio } from '../helpers/services.js';
import { until } from '../helpers/stack.js';
import { listKeys } from '../../adapters/storage.js';
import { baseFolder } from '../../adapters/catalogStore.js';
import { objectNameFor } from '../../activities/steps/basebackup.js';
import type { BackupManifest } from '../../domain/catalog.js';
import type { WalCheckResult } from '../../domain/walCheck.js';

const OUTAGE_MS = 30_000;

describe('MinIO outage', () => {
  let pg: Awaited<ReturnType<typeof ownPostgresWithBigTable>>;
  let minio: Awaited<ReturnType<typeof ownMinio>>;
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;

  beforeAll(async () => {
    pg = await ownPostgresWithBigTable();
    minio = await ownMinio('minio-outage');
    tc = testCluster(
      'fltmio',
      (cl) => {
        slowBackups(pg)(cl);
        cl.archive = { checkCron: null, roundTripTimeoutSeconds: 60 };
      },
      (raw) => {
        raw.storage.endpoint = minio.endpoint;
      },
    );
    workers = await startWorkers(tc);
    c = await clients(tc);
    const enabled = await c.call('POST', `/api/v1/clusters/${tc.name}/archive/enable`, {});
    expect(enabled.status, JSON.stringify(enabled.body)).toBe(202);
    await c.temporal.workflow.getHandle(enabled.body.workflowId).result();
  }, 300_000);

  afterAll(async () => {
    await workers?.stop();
    await c?.close();
    await pg?.stop();
    await minio?.close();
  });

  it('retries the upload with backoff through a 30 s outage; the backup completes verified and nothing partial counts', async () => {
    const t0 = Date.now();
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = c.temporal.workflow.getHandle(res.body.workflowId);
    const bucket = tc.config.storage.bucket;

    // Mid-upload: the backup's multipart upload holds at least one part. (MinIO lists
    // multipart uploads by exact key only.)
    const backupId = await until(
      'the backup id',
      async () => (await handle.query<{ backupId: string | null }>('progress').catch(() => null))?.backupId,
      60_000,
      100,
    );
    const key = baseFolder(tc.config.storage, tc.name, backupId) + objectNameFor(tc.config.clusters[tc.name]!.backup.compression);
    let partsBefore = 0;
    await until(
      'a multipart upload with a part',
      async () => {
        const ups = await c.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
        const up = ups.Uploads?.[0];
        if (!up) return false;
        partsBefore = (await c.s3.send(new ListPartsCommand({ Bucket: bucket, Key: up.Key!, UploadId: up.UploadId! }))).Parts?.length ?? 0;
        return partsBefore >= 1;
      },
      120_000,
      200,
    );
    const stoppedAt = Date.now();
    await minio.stop();
    expect(minio.pid()).toBeUndefined();

    // WAL written during the outage: the archiver fails on it and keeps it until S3 is back.
    await pg.sql(`insert into big select g, 'outage' from generate_series(600001, 640000) g; select pg_switch_wal()`);
    await until('the archiver failing', async () => Number(await pg.sql('select failed_count from pg_stat_archiver')) > 0, 60_000, 500);
    const stepDuring = (await handle.query<{ step: string }>('progress')).step;
    // The retried attempt waits for storage, heartbeating, where the Temporal UI shows it.
    const waiting = await until(
      'the upload heartbeating "waiting for storage"',
      async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const details = pending.flatMap((a) =>
          (a.heartbeatDetails?.payloads ?? []).map((p) => JSON.parse(Buffer.from(p.data!).toString('utf8'))),
        );
        return details.find((d: { phase?: string }) => d.phase === 'waiting for storage') as
          { endpoint: string; waitedSeconds: number; error: string } | undefined;
      },
      OUTAGE_MS,
      500,
    );
    expect(waiting.endpoint).toBe(minio.endpoint);
    expect(waiting.error).toMatch(/ECONNREFUSED/);
    const restartAfter = OUTAGE_MS - (Date.now() - stoppedAt);
    if (restartAfter > 0) await new Promise((r) => setTimeout(r, restartAfter));
    await minio.start();
    const outageSeconds = (Date.now() - stoppedAt) / 1000;
    expect(outageSeconds).toBeGreaterThanOrEqual(OUTAGE_MS / 1000);

    const { manifest } = (await handle.result()) as { manifest: BackupManifest };
    expect(manifest.status).toBe('good');
    expect(manifest.verification?.ok).toBe(true);

    // The upload was retried by Temporal: an attempt failed, a later one completed.
    const history = await handle.fetchHistory();
    const uploads = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'uploadBaseBackup');
    expect(uploads).toHaveLength(1);
    const attempts = Math.max(...history.events!.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
    // The first attempt failed on the outage; the second waited it out instead of failing too.
    expect(attempts).toBe(2);
    const failure = history.events!.map((e) => e.activityTaskStartedEventAttributes?.lastFailure?.message).find(Boolean) ?? '';

    // Listed once; its folder holds exactly the object the manifest names; no multipart left.
    const listed = await c.call('GET', `/api/v1/clusters/${tc.name}/backups`);
    expect(listed.body.backups.map((b: BackupManifest) => b.id)).toEqual([manifest.id]);
    const folder = baseFolder(tc.config.storage, tc.name, manifest.id);
    const stored = (await listKeys(c.s3, bucket, folder)).map((k) => k.key.slice(folder.length)).sort();
    expect(stored).toEqual([...manifest.objects.map((o) => o.name), 'manifest.json'].sort());
    expect(manifest.id).toBe(backupId);
    const left = await c.s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }));
    expect(left.Uploads ?? []).toEqual([]);

    // The WAL of the outage reached the archive: the check finds no gap from the backup on.
    await until(
      'the archiver caught up',
      async () => Number(await pg.sql(`select count(*) from pg_ls_archive_statusdir() where name like '%.ready'`)) === 0,
      120_000,
      500,
    );
    const ck = await c.call('POST', `/api/v1/clusters/${tc.name}/wal-archive/check`, {});
    expect(ck.status).toBe(202);
    const check = (await c.temporal.workflow.getHandle(ck.body.workflowId).result()) as WalCheckResult;
    expect(check.problems).toEqual([]);
    expect(check.continuity).toMatchObject({ fromBackup: manifest.id, missingCount: 0 });
    const failedArchives = Number(await pg.sql('select failed_count from pg_stat_archiver'));
    expect(failedArchives).toBeGreaterThan(0);

    console.log(
      `FAULT | MinIO stopped for ${outageSeconds.toFixed(0)} s mid-upload (${partsBefore} part(s) stored, backup step "${stepDuring}") | backup ${manifest.id} completed good and verified after ${attempts} upload attempts in ${((Date.now() - t0) / 1000).toFixed(0)} s (first failure: ${failure.slice(0, 80)}); listed once, no partial object or multipart upload left; WAL archiver failed ${failedArchives}x during the outage, then caught up with no gap`,
    );
  }, 400_000);
});
