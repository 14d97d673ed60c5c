/**
 * The offsite copy's throughput: copyBackupObjects (stream each object to the secondary, hashing,
 * then read it back there and compare) against the anchor, the same object streamed from the
 * primary MinIO to the secondary with the SDK and nothing else (no hash, no read-back), measured
 * in the same run and interleaved. The object is a real backup of the bench database (verification
 * off). PGDR_BENCH_RUNS each (default 3, median).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { parse } from 'yaml';
import { parseConfig } from '../config/load.js';
import { repositoryConfig } from '../config/repositories.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client, putJsonIfAbsent } from '../adapters/storage.js';
import { baseFolder, manifestKey } from '../adapters/catalogStore.js';
import { ensureSecrets } from '../scripts/stack/secrets.js';
import { secondaryStorageConfig } from '../scripts/stack/config.js';
import { uploadBaseBackup } from '../activities/steps/basebackup.js';
import { stepDeps } from '../activities/bind.js';
import { copyBackupObjects } from '../activities/steps/copy.js';
import { backupId } from '../domain/naming.js';
import type { BenchRow } from './backup.js';
import { benchStack, ensureBenchDb, median } from './stack.js';

const MB = 1024 * 1024;

export async function copyBench(): Promise<BenchRow[]> {
  const stack = await benchStack();
  const { layout } = stack;
  await ensureBenchDb(stack);
  const runs = Number(process.env.PGDR_BENCH_RUNS ?? 3);
  const run = Date.now().toString(36);
  const raw = parse(readFileSync(layout.configFile, 'utf8'));
  raw.clusters.demo.backup = { ...raw.clusters.demo.backup, verify: false, schedules: {} };
  raw.storage.prefix = `bench-copy/${run}`;
  raw.storage.secondary = {
    ...secondaryStorageConfig(layout, join(layout.tlsSecondary, 'ca.crt'), ensureSecrets(layout.secrets)),
    prefix: `bench-copy/${run}`,
    copyCron: null,
  };
  const config = parseConfig(raw, layout.configFile);
  const readSecret = createSecretReader();
  const deps = stepDeps(config, readSecret, createS3Client(config.storage, readSecret));
  const far = repositoryConfig(config, 'secondary');
  const farS3 = deps.secondary!().s3;

  // One real backup on the primary, with a manifest (the copy copies what a manifest says is good).
  const id = backupId(new Date(), 'full');
  const up = await uploadBaseBackup(deps, { cluster: 'demo', node: 'primary', backupId: id });
  const folder = baseFolder(config.storage, 'demo', id);
  const head = await deps.s3.send(new HeadObjectCommand({ Bucket: config.storage.bucket, Key: folder + up.objectName }));
  const bytes = head.ContentLength ?? up.bytes;
  await putJsonIfAbsent(deps.s3, config.storage.bucket, manifestKey(config.storage, 'demo', id), {
    formatVersion: 1,
    id,
    cluster: 'demo',
    status: 'good',
    objects: [{ name: up.objectName, bytes: up.bytes, sha256: up.sha256 }],
  });

  const pgdr: number[] = [];
  const anchor: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Anchor: the bytes from one MinIO to the other, streamed by the SDK, nothing checked.
    let t0 = performance.now();
    const res = await deps.s3.send(new GetObjectCommand({ Bucket: config.storage.bucket, Key: folder + up.objectName }));
    await new Upload({
      client: farS3,
      params: { Bucket: far.storage.bucket, Key: `bench-copy/${run}/anchor-${i}/${up.objectName}`, Body: res.Body as Readable },
      partSize: 16 * MB,
      queueSize: 4,
    }).done();
    anchor.push((performance.now() - t0) / 1000);
    // pgdr: the copy activity's step, into a prefix of its own each time (it never replaces an object).
    const runDeps = stepDeps(
      { ...config, storage: { ...config.storage, secondary: { ...config.storage.secondary!, prefix: `bench-copy/${run}/pgdr-${i}` } } },
      readSecret,
      deps.s3,
    );
    t0 = performance.now();
    const r = await copyBackupObjects(runDeps, { cluster: 'demo', backupId: id, workflowId: 'bench' });
    if (!r.copied) throw new Error(`bench: the copy did not copy: ${r.reason}`);
    pgdr.push((performance.now() - t0) / 1000);
  }
  const [a, p] = [median(anchor), median(pgdr)];
  const mbps = (s: number) => (bytes / MB / s).toFixed(1);
  return [
    { metric: 'copy: backup object size (stored)', value: `${(bytes / MB).toFixed(0)} MB` },
    { metric: 'copy: runs of each, interleaved (median)', value: String(runs) },
    { metric: 'copy anchor (SDK stream, unchecked): s (MB/s)', value: `${a.toFixed(2)} (${mbps(a)})` },
    { metric: 'copy pgdr (hashed, read back, record): s (MB/s)', value: `${p.toFixed(2)} (${mbps(p)})` },
    { metric: 'copy throughput ratio pgdr / anchor', value: (a / p).toFixed(3), target: '>= 0.5 (reads back)' },
  ];
}
