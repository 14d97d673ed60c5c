/**
 * Immutable backups with S3 Object Lock, on the stack's MinIO bucket created with Object Lock
 * (STACK_LOCKED_BUCKET), with a Postgres server of the test's own archiving through `pgdr wal push`:
 * - every base object, manifest and WAL segment pgdr writes carries a governance lock until
 *   its write time plus `days` plus the one-day margin;
 * - with pgdr's own credentials, deleting an exact version and a conditional overwrite are
 *   refused while the lock holds; a plain delete or overwrite only adds a version or a delete
 *   marker, and the locked bytes stay;
 * - retention (after a backup, a dry run, a real run) holds the locked backup with its
 *   retain-until and keeps the WAL it needs;
 * - once the backup's lock has ended, expiry removes it with every version and delete marker
 *   while its WAL, still locked, stays (the plan says so); once that lock ends too, the WAL goes;
 *   the newer backup still restores.
 *
 * "Once the lock has ended" cannot wait the real days. The test stands in for the time passing
 * by moving the retain-until of the old backup's objects (and its WAL) to a few seconds ahead
 * with PutObjectRetention + BypassGovernanceRetention: an administrator's call made by the test
 * only (pgdr never sends it; test/domain/objectLock.test.ts checks the sources). Everything
 * pgdr does afterwards (reading locks, deciding, deleting versions) is its real code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { switchAndArchive } from '../helpers/ticks.js';
import { baseFolder, listCatalog, manifestKey, readManifest, walFolder } from '../../adapters/catalogStore.js';
import { checkObjectLock, deleteVersions, listKeys, listVersions, putJsonIfAbsent, type ObjectVersion } from '../../adapters/storage.js';
import { walBeforeCutoff } from '../../domain/retention.js';
import { STACK_LOCKED_BUCKET } from '../../scripts/stack/minio.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import type { BackupManifest } from '../../domain/catalog.js';
import type { ExpireResult } from '../../workflows/expireBackups.js';

const DAY = 86_400_000;

async function body(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('immutable backups with S3 Object Lock (basebackup method)', () => {
  let src: PitrSource;
  let older: BackupManifest;
  let newer: BackupManifest;
  let afterNewer: ExpireResult | null;
  let bucket: string;

  beforeAll(async () => {
    src = await pitrSource('lock', {
      tickSeconds: 4,
      // Count retention: one full; minWindow 0s so that one-day locks cover what retention promises.
      adjust: (cl) => (cl.retention = { fullCount: 1, minWindow: '0s' }),
      adjustRoot: (raw) => {
        raw.storage.bucket = STACK_LOCKED_BUCKET;
        raw.storage.objectLock = { mode: 'governance', days: 1 };
      },
    });
    bucket = src.tc.config.storage.bucket;
    older = src.backup;
    // A second full: the backup workflow expires right after it, with `older` expirable by count.
    const b = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/backups`, { type: 'full' });
    expect(b.status).toBe(202);
    const r = await src.c.temporal.workflow.getHandle(b.body.workflowId).result();
    newer = r.manifest;
    afterNewer = r.expired;
    await switchAndArchive(src.db);
  }, 300_000);
  afterAll(async () => src?.close());

  it('reports the bucket lock at start-up, and a worker refuses objectLock against a bucket without it', async () => {
    expect(await checkObjectLock(src.c.s3, src.tc.config.storage)).toBe(
      `bucket "${STACK_LOCKED_BUCKET}" has object lock enabled, no default retention; pgdr locks what it writes (governance, 1 day(s) plus a one-day margin)`,
    );
    // The worker itself, with the plain bucket: it stops before serving, naming field, value and expected form.
    const plain = src.tc.configPath.replace(/pgdr\.yaml$/, 'plain.yaml');
    writeFileSync(plain, readFileSync(src.tc.configPath, 'utf8').replace(`bucket: ${STACK_LOCKED_BUCKET}`, 'bucket: pgdr'));
    const run = await execa(
      join(repoRoot, 'node_modules/.bin/tsx'),
      [join(repoRoot, 'worker/main.ts'), '--config', plain, '--role', 'control'],
      {
        reject: false,
        timeout: 60_000,
      },
    );
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(
      'storage.objectLock is {mode: governance, days: 1} but bucket "pgdr" has no object lock configuration: expected a bucket created with Object Lock enabled',
    );
    expect(run.stdout).not.toContain('pgdr worker polling');
  });

  it('locks every base object, manifest and WAL segment it writes until the write time plus days plus the margin', async () => {
    const prefix = `${src.tc.config.storage.prefix}/`;
    const written = (await listVersions(src.c.s3, bucket, prefix)).filter((v) => /\/(base|wal)\//.test(v.key));
    const kinds = { base: 0, manifest: 0, wal: 0 };
    for (const v of written) {
      expect(v.deleteMarker, v.key).toBe(false);
      const head = await src.c.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: v.key, VersionId: v.versionId }));
      expect(head.ObjectLockMode, v.key).toBe('GOVERNANCE');
      // Locked for 1 day plus the 1-day margin from the write: a base archive from the start of its
      // upload (the backup's startTime), anything else from its PUT (LastModified, to the second).
      const backup = [older, newer].find((b) => v.key.includes(`/base/${b.id}/`) && !v.key.endsWith('/manifest.json'));
      const writtenFrom = backup ? Date.parse(backup.startTime) : head.LastModified!.getTime();
      const until = head.ObjectLockRetainUntilDate!.getTime();
      expect(until, v.key).toBeGreaterThanOrEqual(writtenFrom + 2 * DAY - 1000);
      expect(until, v.key).toBeLessThanOrEqual(head.LastModified!.getTime() + 2 * DAY + 5000);
      if (v.key.endsWith('/manifest.json')) kinds.manifest++;
      else if (v.key.includes('/base/')) kinds.base++;
      else kinds.wal++;
    }
    expect(kinds.manifest).toBe(2);
    expect(kinds.base).toBeGreaterThanOrEqual(2);
    expect(kinds.wal).toBeGreaterThan(3);
  });

  it("refuses a delete of the exact version and a conditional overwrite by pgdr's own credentials while the backup is locked", async () => {
    const { storage } = src.tc.config;
    const mkey = manifestKey(storage, src.tc.name, older.id);
    const [manifestVersion] = await listVersions(src.c.s3, bucket, mkey);
    // 1. DELETE with the version id: S3 refuses (WORM), in one request or in a batch.
    await expect(
      src.c.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: mkey, VersionId: manifestVersion!.versionId })),
    ).rejects.toThrow(/WORM|locked|AccessDenied|retention/i);
    await expect(deleteVersions(src.c.s3, bucket, [manifestVersion!])).rejects.toThrow(`s3 refused to delete ${mkey} version`);
    // 2. pgdr's own never-overwrite write (If-None-Match) is refused; the manifest stays as written.
    expect(await putJsonIfAbsent(src.c.s3, bucket, mkey, { forged: true })).toBe(false);
    expect(await readManifest(src.c.s3, storage, src.tc.name, older.id)).toEqual(older);
    // 3. Without the condition, a PUT and a plain DELETE "succeed" on a versioned bucket, but
    //    only add a version and a delete marker: the locked bytes stay, byte for byte.
    const baseKey = baseFolder(storage, src.tc.name, older.id) + older.objects[0]!.name;
    const [baseVersion] = await listVersions(src.c.s3, bucket, baseKey);
    const original = sha(await body(src.c.s3, bucket, baseKey, baseVersion!.versionId));
    await src.c.s3.send(new PutObjectCommand({ Bucket: bucket, Key: baseKey, Body: 'ransom note' }));
    const marker = await src.c.s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: baseKey }));
    expect(marker.DeleteMarker).toBe(true);
    expect((await listKeys(src.c.s3, bucket, baseKey)).length).toBe(0);
    expect(sha(await body(src.c.s3, bucket, baseKey, baseVersion!.versionId))).toBe(original);
    expect((await listVersions(src.c.s3, bucket, baseKey)).map((v) => v.deleteMarker).sort()).toEqual([false, false, true]);
  });

  it('retention holds the locked backup with its retain-until, after a backup, in a dry run and in a real run, with the WAL it needs', async () => {
    const { tc, c } = src;
    const folder = walFolder(tc.config.storage, tc.name);
    const walBefore = (await listKeys(c.s3, bucket, folder)).map((o) => o.key).sort();
    // The expiry the newer backup ran.
    expect(afterNewer!.deletedBackups).toEqual([]);
    expect(afterNewer!.plan.heldByLock!.map((h) => h.id)).toEqual([older.id]);
    for (const dryRun of [true, false]) {
      const res = await c.call('POST', `/api/v1/clusters/${tc.name}/expire`, { dryRun });
      expect(res.status).toBe(202);
      const r = (await c.temporal.workflow.getHandle(res.body.workflowId).result()) as ExpireResult;
      expect(r.dryRun).toBe(dryRun);
      expect(r.plan.expire).toEqual([]);
      expect(r.plan.keep).toEqual([older.id, newer.id]);
      const held = r.plan.heldByLock!;
      expect(held).toHaveLength(1);
      expect(held[0]!.id).toBe(older.id);
      // The latest lock among its objects: the manifest's, written last, about two days after the backup.
      expect(Date.parse(held[0]!.retainUntil)).toBeGreaterThan(Date.now() + 2 * DAY - 10 * 60_000);
      expect(held[0]!.reason).toBe(
        `locked until ${held[0]!.retainUntil} (governance): older than the oldest kept full ${newer.id}, so it is expired once the lock ends`,
      );
      expect(r.plan.locks![older.id]!.retainUntil).toBe(held[0]!.retainUntil);
      expect(Date.parse(r.plan.locks![newer.id]!.retainUntil!)).toBeGreaterThan(Date.parse(held[0]!.retainUntil));
      // The WAL cutoff moved back to the held backup's start: no WAL before it exists, none goes.
      expect(r.plan.walCutoff).toBe(older.startWalSegment);
      expect(r.walObjects).toBe(0);
      expect(r.deletedBackups).toEqual([]);
    }
    expect((await listCatalog(c.s3, tc.config.storage, tc.name)).map((e) => e.id)).toEqual([older.id, newer.id]);
    expect((await listKeys(c.s3, bucket, folder)).map((o) => o.key).sort()).toEqual(walBefore);
  });

  it("once the backup's lock has ended expiry removes it with every version and delete marker, and its WAL once that lock has ended too; the newer backup still restores", async () => {
    const { tc, c } = src;
    const oldFolder = baseFolder(tc.config.storage, tc.name, older.id);
    const walDir = walFolder(tc.config.storage, tc.name);
    const oldWal = (await listVersions(c.s3, bucket, walDir)).filter((v) =>
      walBeforeCutoff(v.key.slice(walDir.length), newer.startWalSegment),
    );
    const oldWalKeys = new Set(oldWal.filter((v) => !v.deleteMarker).map((v) => v.key));
    expect(oldWalKeys.size).toBeGreaterThan(0);
    // Stand-in for the days passing (see the file's comment): the test, as an administrator, ends these locks in 3 s.
    const endLocks = async (versions: ObjectVersion[]) => {
      const until = new Date(Date.now() + 3000);
      for (const v of versions.filter((x) => !x.deleteMarker))
        await c.s3.send(
          new PutObjectRetentionCommand({
            Bucket: bucket,
            Key: v.key,
            VersionId: v.versionId,
            BypassGovernanceRetention: true,
            Retention: { Mode: 'GOVERNANCE', RetainUntilDate: until },
          }),
        );
      await new Promise((r) => setTimeout(r, until.getTime() - Date.now() + 1500));
    };
    const expire = async (dryRun: boolean) => {
      const res = await c.call('POST', `/api/v1/clusters/${tc.name}/expire`, { dryRun });
      return (await c.temporal.workflow.getHandle(res.body.workflowId).result()) as ExpireResult;
    };

    // 1. The backup's lock ends, its WAL's not yet: the backup goes, the WAL stays, and the plan says why.
    await endLocks(await listVersions(c.s3, bucket, oldFolder));
    const plan = await expire(true);
    expect(plan.plan.heldByLock).toEqual([]);
    expect(plan.plan.expire.map((e) => e.id)).toEqual([older.id]);
    expect(plan.plan.walCutoff).toBe(newer.startWalSegment);
    expect(plan.walObjects).toBe(0);
    expect(plan.plan.walHeldByLock!.objects).toBe(oldWalKeys.size);
    expect(Date.parse(plan.plan.walHeldByLock!.retainUntil)).toBeGreaterThan(Date.now() + DAY);
    const first = await expire(false);
    expect(first.deletedBackups).toEqual([older.id]);
    expect(first.walObjects).toBe(0);
    // Gone for good: no version and no delete marker is left to hide or keep anything.
    expect(await listVersions(c.s3, bucket, oldFolder)).toEqual([]);
    expect((await listCatalog(c.s3, tc.config.storage, tc.name)).map((e) => e.id)).toEqual([newer.id]);
    expect((await listVersions(c.s3, bucket, walDir)).filter((v) => oldWalKeys.has(v.key)).length).toBe(oldWal.length);

    // 2. The WAL's lock ends too: the next expiry removes it, every version.
    await endLocks(oldWal);
    const second = await expire(false);
    expect(second.deletedBackups).toEqual([]);
    expect(second.plan.walHeldByLock).toBeUndefined();
    expect(second.walObjects).toBe(oldWalKeys.size);
    const walLeft = await listVersions(c.s3, bucket, walDir);
    expect(walLeft.filter((v) => oldWalKeys.has(v.key))).toEqual([]);
    expect(walLeft.every((v) => !v.deleteMarker)).toBe(true);
    expect(walLeft.length).toBeGreaterThan(0);

    // The newer backup and the WAL after it still restore (the reads go to the current versions).
    const { report } = await restoreAndWait(c, tc.name, { target: { latest: true } }, src.made);
    expect(report.backupId).toBe(newer.id);
    const n = src.ticks.length;
    expect(await src.rows(report.destination.port)).toBe(`${n}|1|${n}`);
    expect(report.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true });
  });
});
