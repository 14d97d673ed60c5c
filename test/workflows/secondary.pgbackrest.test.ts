/**
 * A second repository with the pgbackrest method: storage.secondary is pgBackRest's own repo2.
 * The primary repository is a MinIO of the test's own (so the test can stop it), the secondary the
 * stack's second MinIO (own port, keys and CA).
 * - archive-push writes every WAL segment to both repositories;
 * - each good backup is followed by a backup of its own into repo2, recorded in the secondary's
 *   catalog under the same id, and the catalog says which repositories hold it;
 * - a copy run with verify proves the secondary with `pgbackrest verify`; one finding the newest
 *   good backup without a counterpart in repo2 takes it;
 * - with the primary MinIO stopped, a PITR with repository auto reads repo2 and recovers exactly
 *   the rows up to the target; a drill from repo2 proves its own backup;
 * - a damaged WAL segment in repo2 fails the copy's verify, naming the repository.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { restoreAndWait } from '../helpers/restore.js';
import { secondarySource, type SecondarySource } from '../helpers/secondary.js';
import { switchAndArchive, timeAfter } from '../helpers/ticks.js';
import { rootFailure } from '../helpers/cluster.js';
import { listCatalog, manifestKey } from '../../adapters/catalogStore.js';
import { listKeys } from '../../adapters/storage.js';
import type { BackupResult } from '../../workflows/backup.js';
import type { CopyReport } from '../../domain/copy.js';
import type { DrillReport } from '../../domain/drill.js';
import type { PgdrConfig } from '../../config/schema.js';

/** WAL segment names in a pgBackRest archive under `root` (`<segment>-<sha1>.<ext>`). */
async function archivedSegments(s3: S3Client, bucket: string, root: string): Promise<{ name: string; key: string }[]> {
  return (await listKeys(s3, bucket, root))
    .flatMap((k) => {
      const m = /\/([0-9A-F]{24})-[0-9a-f]{40}(\.\w+)?$/.exec(k.key);
      return m ? [{ name: m[1]!, key: k.key }] : [];
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

describe('a second repository (pgbackrest method: repo2)', () => {
  let env: SecondarySource;
  let own: SecondarySource['own'];
  let src: SecondarySource['src'];
  let secondary: PgdrConfig;
  let far: S3Client;
  let backupResult: BackupResult;
  let copy: CopyReport;

  beforeAll(async () => {
    env = await secondarySource('pbroff', 'pgbackrest');
    ({ own, src, secondary, far } = env);
    backupResult = (await src.c.temporal.workflow.getHandle(src.backup.workflowId).result()) as BackupResult;
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/copies`, { verify: true });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    copy = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as CopyReport;
  }, 400_000);
  afterAll(async () => env?.close());

  it('follows each good backup with one into repo2, pushes WAL to both, and the catalog says where each backup is', async () => {
    // The backup into repo2: the same id, a set of its own (pgBackRest copies no set between repositories).
    const onFar = (await listCatalog(far, secondary.storage, src.tc.name)).map((e) => e.manifest!);
    expect(onFar.map((m) => [m.id, m.method, m.status])).toEqual([[src.backup.id, 'pgbackrest', 'good']]);
    expect(onFar[0]!.pgbackrestLabel).toMatch(/^\d{8}-\d{6}F$/);
    expect(onFar[0]!.verification).toMatchObject({ tool: 'pgbackrest verify', ok: true });
    expect(backupResult.copy).toEqual({ secondary: { id: src.backup.id, pgbackrestLabel: onFar[0]!.pgbackrestLabel } });
    expect(onFar[0]!.stopLsn >= src.backup.stopLsn || onFar[0]!.stopLsn.length > src.backup.stopLsn.length).toBe(true);

    // archive-push wrote every segment the ticks made to both repositories.
    await switchAndArchive(src.db);
    const nearRoot = `${src.tc.config.storage.prefix}/${src.tc.name}/pgbackrest/archive/${src.tc.name}/`;
    const farRoot = `${secondary.storage.prefix}/${src.tc.name}/pgbackrest/archive/${src.tc.name}/`;
    const near = (await archivedSegments(src.c.s3, src.tc.config.storage.bucket, nearRoot)).map((s) => s.name);
    const farNames = new Set((await archivedSegments(far, secondary.storage.bucket, farRoot)).map((s) => s.name));
    expect(near.length).toBeGreaterThan(2);
    for (const n of near) expect(farNames.has(n), n).toBe(true);

    // The copy run found nothing to take, proved repo2 with pgbackrest verify, and read its newest WAL.
    expect(copy).toMatchObject({ backupsCopied: [], backupsOnSecondary: [src.backup.id], backupsSkipped: [], trigger: 'api' });
    expect(copy.verified).toMatchObject({ tool: 'pgbackrest verify', bytes: null });
    expect(copy.verified!.objects).toBeGreaterThan(near.length);
    expect(copy.wal.newestOnSecondary! >= src.backup.startWalSegment).toBe(true);

    const listed = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/backups`);
    expect(listed.status).toBe(200);
    expect(listed.body.backups.map((b: any) => [b.id, b.repositories])).toEqual([[src.backup.id, ['primary', 'secondary']]]);
    const metrics = await src.c.text('GET', '/metrics');
    expect(metrics.body).toContain(`pgdr_copy_backups_missing{cluster="${src.tc.name}"} 0`);
    expect(metrics.body).toContain(`pgdr_copy_secondary_reachable{cluster="${src.tc.name}"} 1`);
    const copies = await src.c.cli(['copies', src.tc.name]);
    expect(copies.exitCode, copies.stderr).toBe(0);
    expect(copies.stdout).toContain(copy.id);
  });

  it('restores to a time from repo2 when the primary storage is down (repository auto): exactly the rows up to it', async () => {
    const k = Math.floor(src.ticks.length / 2);
    const time = timeAfter(src.ticks, k);
    await own.stop();
    try {
      const { report } = await restoreAndWait(src.c, src.tc.name, { target: { time }, repository: 'auto' }, src.made);
      expect(report).toMatchObject({ method: 'pgbackrest', repository: 'secondary', backupId: src.backup.id });
      expect(report.notes?.join('\n')).toMatch(/read from the secondary .* the primary storage https:\/\/127\.0\.0\.1:\d+ is unavailable/);
      expect(await src.rows(report.destination.port)).toBe(`${k}|1|${k}`);
      const restoreCommand = (await src.pgs.sqlAt(report.destination.port, `select current_setting('restore_command')`)).trim();
      expect(restoreCommand).toMatch(/wal fetch .*--via pgbackrest.*--repository secondary/);
    } finally {
      await own.start();
    }
  }, 300_000);

  it("drills from repo2: proves the secondary's own backup", async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, { repository: 'secondary' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const report = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as DrillReport;
    expect(report).toMatchObject({ ok: true, repository: 'secondary', failures: [] });
    expect(report.restores.map((r) => [r.backupId, r.restore?.repository, r.restore?.method])).toEqual([
      [src.backup.id, 'secondary', 'pgbackrest'],
    ]);
  }, 300_000);

  it('catches up with a backup into repo2 when the newest good backup has none there (the copy schedule)', async () => {
    const before = (await listCatalog(far, secondary.storage, src.tc.name))[0]!.manifest!;
    // As after a backup whose repo2 half failed: the secondary holds no manifest for it.
    await far.send(
      new DeleteObjectCommand({ Bucket: secondary.storage.bucket, Key: manifestKey(secondary.storage, src.tc.name, src.backup.id) }),
    );
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/copies`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const report = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as CopyReport;
    expect(report).toMatchObject({ backupsCopied: [src.backup.id], backupsOnSecondary: [src.backup.id], backupsSkipped: [] });
    const after = (await listCatalog(far, secondary.storage, src.tc.name))[0]!.manifest!;
    // A catch-up takes a full (it must not build on a repo2 set that may have failed).
    expect(after).toMatchObject({ id: src.backup.id, status: 'good', method: 'pgbackrest', type: 'full', parent: null });
    expect(after.pgbackrestLabel).not.toBe(before.pgbackrestLabel);
    expect(after.workflowId).toBe(res.body.workflowId);
  }, 300_000);

  it("names the repository and the damage when a copy's verify finds a damaged WAL segment in repo2", async () => {
    const farRoot = `${secondary.storage.prefix}/${src.tc.name}/pgbackrest/archive/${src.tc.name}/`;
    const [segment] = await archivedSegments(far, secondary.storage.bucket, farRoot);
    const before = await far.send(new GetObjectCommand({ Bucket: secondary.storage.bucket, Key: segment!.key }));
    const bytes = Buffer.from(await before.Body!.transformToByteArray());
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    await far.send(new PutObjectCommand({ Bucket: secondary.storage.bucket, Key: segment!.key, Body: bytes }));
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/copies`, { verify: true });
    expect(res.status).toBe(202);
    await expect(src.c.temporal.workflow.getHandle(res.body.workflowId).result()).rejects.toThrow();
    const failure = await rootFailure(src.c.temporal, res.body.workflowId);
    expect(failure.type).toBe('CopyCorruptError');
    expect(failure.message).toContain(`s3://${secondary.storage.bucket}/${secondary.storage.prefix}/${src.tc.name}/pgbackrest`);
    expect(failure.message).toContain(segment!.name);
  }, 180_000);
});
