/**
 * MinIO serving TLS with the stack's CA, and the pgdr bucket. It always has a static KMS key
 * (MINIO_KMS_SECRET_KEY, named STACK_KMS_KEY_ID), so SSE-S3 and SSE-KMS requests work against it;
 * objects are only encrypted when a request asks (no auto-encryption). A second bucket,
 * STACK_LOCKED_BUCKET, has Object Lock enabled (and so versioning), with no default retention.
 */
import { join } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { StackLayout } from './layout.js';
import { findTool, portOpen, readPid, startDaemon, stopDaemon, waitFor } from './procs.js';

function healthy(port: number, caCert: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/minio/health/live', ca: readFileSync(caCert), timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** The name of the stack MinIO's one KMS key (the key id an SSE-KMS request names). */
export const STACK_KMS_KEY_ID = 'pgdr-stack-key';

export async function ensureMinio(
  layout: StackLayout,
  tls: { caCert: string; minioCertsDir: string },
  creds: { accessKey: string; secretKey: string; kmsKey: string },
): Promise<void> {
  const pidFile = join(layout.run, 'minio.pid');
  const logFile = join(layout.logs, 'minio.log');
  if (readPid(pidFile) && (await healthy(layout.ports.minio, tls.caCert))) return;
  if (await portOpen(layout.ports.minio)) {
    throw new Error(`port ${layout.ports.minio} is taken by another process\nHINT: set PGDR_PORT_OFFSET to move the stack's ports`);
  }
  const data = join(layout.dir, 'minio', 'data');
  mkdirSync(data, { recursive: true });
  startDaemon({
    cmd: findTool('minio', layout.toolsBin),
    args: [
      'server',
      data,
      '--quiet',
      '--address',
      `127.0.0.1:${layout.ports.minio}`,
      '--console-address',
      `127.0.0.1:${layout.ports.minioConsole}`,
      '--certs-dir',
      tls.minioCertsDir,
    ],
    // Credentials go through env, never argv.
    env: {
      MINIO_ROOT_USER: creds.accessKey,
      MINIO_ROOT_PASSWORD: creds.secretKey,
      MINIO_KMS_SECRET_KEY: `${STACK_KMS_KEY_ID}:${creds.kmsKey}`,
      MINIO_BROWSER: 'on',
      MINIO_UPDATE: 'off',
    },
    logFile,
    pidFile,
  });
  await waitFor(`minio (TLS) on port ${layout.ports.minio}`, () => healthy(layout.ports.minio, tls.caCert), 60000, logFile);
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

/** The stack's second bucket, created with Object Lock, for the lock tests (the pgdr bucket stays plain). */
export const STACK_LOCKED_BUCKET = 'pgdr-locked';

/** Creates the bucket with Object Lock enabled (only possible at creation), unless it exists. */
export async function ensureLockedBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  }
}

export async function stopMinio(layout: StackLayout): Promise<boolean> {
  return stopDaemon(join(layout.run, 'minio.pid'), 'minio');
}
