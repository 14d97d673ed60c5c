/**
 * A second repository (storage.secondary): the stack's second MinIO, with its own port, keys and
 * CA. The primary repository is a MinIO of the test's own, so the test can stop it while the
 * shared stack's MinIO keeps serving the other test files.
 * - each good backup starts copyBackup; the copy's objects hash on the far side to what the
 *   primary holds, the manifest is written last, and the catalog says which repositories hold it;
 * - a copy with verify re-reads the whole copy;
 * - with the primary MinIO stopped, a PITR with repository auto reads the secondary, says so,
 *   and recovers exactly the rows to the target;
 * - a drill from the secondary proves its copy and stores its report there;
 * - a damaged object on the secondary is found by verification and named by its s3:// URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { restoreAndWait } from '../helpers/restore.js';
import { secondarySource, type SecondarySource } from '../helpers/secondary.js';
import { timeAfter } from '../helpers/ticks.js';
import { rootFailure } from '../helpers/cluster.js';
import { baseFolder, walFolder } from '../../adapters/catalogStore.js';
import { listKeys } from '../../adapters/storage.js';
import type { CopyReport } from '../../domain/copy.js';
import type { DrillReport } from '../../domain/drill.js';
import type { PgdrConfig } from '../../config/schema.js';

async function body(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('a second repository (basebackup method)', () => {
  let env: SecondarySource;
  let own: SecondarySource['own'];
  let src: SecondarySource['src'];
  let secondary: PgdrConfig;
  let far: S3Client;
  let firstCopy: CopyReport;
  let secondCopy: CopyReport;

  beforeAll(async () => {
    env = await secondarySource('offsite', 'basebackup');
    ({ own, src, secondary, far } = env);
    // The backup started its copy (not awaited by the backup); the ticks' WAL came after it.
    const backups = await src.c.temporal.workflow.list({ query: `WorkflowType = 'copyBackup' AND PgdrCluster = '${src.tc.name}'` });
    const ids: string[] = [];
    for await (const w of backups) ids.push(w.workflowId);
    expect(ids).toEqual([`copyBackup/${src.tc.name}/after-${src.backup.id}`]);
    firstCopy = (await src.c.temporal.workflow.getHandle(ids[0]!).result()) as CopyReport;
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/copies`, { verify: true });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    secondCopy = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as CopyReport;
  }, 300_000);
  afterAll(async () => env?.close());

  it('copies each good backup and the WAL it needs, byte for byte, the manifest last; the catalog says where each is', async () => {
    expect(firstCopy).toMatchObject({
      cluster: src.tc.name,
      backupsCopied: [src.backup.id],
      backupsSkipped: [],
      trigger: `backup:${src.backup.id}`,
    });
    expect(firstCopy.secondary).toMatchObject({ bucket: secondary.storage.bucket, prefix: secondary.storage.prefix });
    expect(secondCopy).toMatchObject({ backupsCopied: [], backupsOnSecondary: [src.backup.id], trigger: 'api' });
    expect(secondCopy.wal.from).toBe(src.backup.startWalSegment);
    expect(firstCopy.wal.copied + secondCopy.wal.copied).toBeGreaterThan(0);

    // Every object of the backup, and every WAL object from its start, is on the secondary with the same bytes.
    const near = src.c.s3;
    const nearBucket = src.tc.config.storage.bucket;
    const nearBase = baseFolder(src.tc.config.storage, src.tc.name, src.backup.id);
    const farBase = baseFolder(secondary.storage, src.tc.name, src.backup.id);
    const farKeys = new Set((await listKeys(far, secondary.storage.bucket, farBase)).map((k) => k.key.slice(farBase.length)));
    for (const { key } of await listKeys(near, nearBucket, nearBase)) {
      const name = key.slice(nearBase.length);
      expect(farKeys.has(name), name).toBe(true);
      expect(sha(await body(far, secondary.storage.bucket, farBase + name)), name).toBe(sha(await body(near, nearBucket, key)));
    }
    expect(farKeys.has('copy.json')).toBe(true);
    const nearWal = walFolder(src.tc.config.storage, src.tc.name);
    const farWal = walFolder(secondary.storage, src.tc.name);
    const farWalKeys = new Set((await listKeys(far, secondary.storage.bucket, farWal)).map((k) => k.key.slice(farWal.length)));
    const needed = (await listKeys(near, nearBucket, nearWal))
      .map((k) => k.key.slice(nearWal.length))
      .filter((n) => n.slice(0, 24) >= src.backup.startWalSegment);
    expect(needed.length).toBeGreaterThan(1);
    for (const n of needed) expect(farWalKeys.has(n), n).toBe(true);
    expect(secondCopy.verified!.objects).toBe(farKeys.size - 2 + farWalKeys.size); // all but manifest.json and copy.json

    const listed = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/backups`);
    expect(listed.status).toBe(200);
    expect(listed.body.other).toEqual({ repository: 'secondary', reachable: true, detail: null });
    expect(listed.body.backups.map((b: any) => [b.id, b.repositories])).toEqual([[src.backup.id, ['primary', 'secondary']]]);
    const onFar = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/backups?repository=secondary`);
    expect(onFar.body.backups.map((b: any) => [b.id, b.status])).toEqual([[src.backup.id, 'good']]);

    const copies = await src.c.cli(['copies', src.tc.name]);
    expect(copies.exitCode, copies.stderr).toBe(0);
    expect(copies.stdout).toContain(secondCopy.id);
    const metrics = await src.c.text('GET', '/metrics');
    expect(metrics.body).toContain(`pgdr_copy_backups_missing{cluster="${src.tc.name}"} 0`);
    expect(metrics.body).toContain(`pgdr_copy_backup_lag_seconds{cluster="${src.tc.name}"} 0`);
    console.log(
      `BENCH-NOTE | copy to the secondary | ${firstCopy.bytes} bytes of backup in ${firstCopy.seconds.toFixed(2)} s; verify re-read ${secondCopy.verified!.bytes} bytes`,
    );
  });

  it('restores to a time from the secondary when the primary storage is down (repository auto), and says so', async () => {
    const k = Math.floor(src.ticks.length / 2);
    const time = timeAfter(src.ticks, k);
    await own.stop();
    let restoreId: string;
    try {
      const { report } = await restoreAndWait(src.c, src.tc.name, { target: { time }, repository: 'auto' }, src.made);
      restoreId = report.id;
      expect(await src.rows(report.destination.port)).toBe(`${k}|1|${k}`);
      expect(report.repository).toBe('secondary');
      expect(report.notes?.join('\n')).toMatch(/read from the secondary .* the primary storage https:\/\/127\.0\.0\.1:\d+ is unavailable/);
      expect(report.backupId).toBe(src.backup.id);
      // Replay took its WAL from the prefetch spool, and the prefetcher read the repository the
      // restore read: with the primary storage down, nothing could have come from there.
      expect(report.stop.prefetch).toMatchObject({ corrupt: 0 });
      expect(report.stop.prefetch!.served).toBeGreaterThanOrEqual(1);
      // The report went to the repository the restore read.
      const reports = await listKeys(far, secondary.storage.bucket, `${secondary.storage.prefix}/${src.tc.name}/reports/restores/`);
      expect(reports.map((r) => r.key)).toEqual([`${secondary.storage.prefix}/${src.tc.name}/reports/restores/${report.id}.json`]);
    } finally {
      await own.start();
    }
    // The API lists it with the primary's restores (it reads both repositories' reports).
    const listed = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/restores`);
    expect(listed.status).toBe(200);
    expect(listed.body.restores.map((r: { id: string }) => r.id)).toContain(restoreId!);
  }, 300_000);

  it('drills from the secondary: proves its copy and keeps the report there, none on the primary', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, { repository: 'secondary' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const report = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as DrillReport;
    expect(report).toMatchObject({ ok: true, repository: 'secondary', failures: [] });
    expect(report.restores.map((r) => [r.backupId, r.restore?.repository])).toEqual([[src.backup.id, 'secondary']]);
    const reports = (prefix: string, s3: S3Client, bucket: string) =>
      listKeys(s3, bucket, `${prefix}/${src.tc.name}/reports/drills/`).then((k) => k.map((x) => x.key.split('/').pop()));
    expect(await reports(secondary.storage.prefix, far, secondary.storage.bucket)).toEqual([`${report.id}.json`]);
    expect(await reports(src.tc.config.storage.prefix, src.c.s3, src.tc.config.storage.bucket)).toEqual([]);
    const drills = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills`);
    expect(drills.body.drills.map((d: { id: string }) => d.id)).toEqual([report.id]);
    // Its coverage is the secondary's: the CLI asks for the drill the same way.
    const cli = await src.c.cli(['drill', src.tc.name, '--repository', 'tape']);
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr + cli.stdout).toContain('body.repository');
  }, 300_000);

  it('names every damaged object when a verification re-reads the copy', async () => {
    const farBase = baseFolder(secondary.storage, src.tc.name, src.backup.id);
    const object = src.backup.objects[0]!.name;
    const farWal = walFolder(secondary.storage, src.tc.name);
    // Damage as bit rot or a bad actor would: same keys, other bytes (the secondary bucket has no lock).
    // The segment keeps its metadata (its recorded sha256); a second one loses it, as a foreign write would.
    const segments = (await listKeys(far, secondary.storage.bucket, farWal))
      .map((k) => k.key)
      .filter((k) => /\/[0-9A-F]{24}\.zst$/.test(k));
    const [segment, foreign] = segments as [string, string];
    expect(foreign).toBeDefined();
    const meta = (await far.send(new HeadObjectCommand({ Bucket: secondary.storage.bucket, Key: segment }))).Metadata;
    const damage = (key: string, Metadata?: Record<string, string>) =>
      far.send(new PutObjectCommand({ Bucket: secondary.storage.bucket, Key: key, Body: Buffer.from('not what was copied'), Metadata }));
    await damage(farBase + object);
    await damage(segment, meta);
    await damage(foreign);
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/copies`, { verify: true });
    expect(res.status).toBe(202);
    await expect(src.c.temporal.workflow.getHandle(res.body.workflowId).result()).rejects.toThrow();
    const failure = await rootFailure(src.c.temporal, res.body.workflowId);
    expect(failure.type).toBe('CopyCorruptError');
    expect(failure.message).toContain(`s3://${secondary.storage.bucket}/${farBase}${object} has sha256 `);
    expect(failure.message).toContain(`s3://${secondary.storage.bucket}/${segment} has sha256 `);
    expect(failure.message).toContain(`expected ${meta!['stored-sha256']} (WAL)`);
    expect(failure.message).toContain(`s3://${secondary.storage.bucket}/${foreign} has no recorded sha256`);
  }, 120_000);
});
