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

/** One MinIO of the stack: its name (pid, log and data directory) and ports. */
export interface MinioInstance {
  name: string;
  port: number;
  consolePort: number;
}

/** The stack's MinIOs: the primary repository's, and the secondary's (storage.secondary in tests). */
export function minioInstances(layout: StackLayout): { primary: MinioInstance; secondary: MinioInstance } {
  return {
    primary: { name: 'minio', port: layout.ports.minio, consolePort: layout.ports.minioConsole },
    secondary: { name: 'minio-secondary', port: layout.ports.minioSecondary, consolePort: layout.ports.minioSecondaryConsole },
  };
}

export async function ensureMinio(
  layout: StackLayout,
  tls: { caCert: string; minioCertsDir: string },
  creds: { accessKey: string; secretKey: string; kmsKey: string },
  instance: MinioInstance = minioInstances(layout).primary,
): Promise<void> {
  const pidFile = join(layout.run, `${instance.name}.pid`);
  const logFile = join(layout.logs, `${instance.name}.log`);
  if (readPid(pidFile) && (await healthy(instance.port, tls.caCert))) return;
  if (await portOpen(instance.port)) {
    throw new Error(`port ${instance.port} is taken by another process\nHINT: set PGDR_PORT_OFFSET to move the stack's ports`);
  }
  const data = join(layout.dir, instance.name, 'data');
  mkdirSync(data, { recursive: true });
  startDaemon({
    cmd: findTool('minio', layout.toolsBin),
    args: [
      'server',
      data,
      '--quiet',
      '--address',
      `127.0.0.1:${instance.port}`,
      '--console-address',
      `127.0.0.1:${instance.consolePort}`,
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
  await waitFor(`${instance.name} (TLS) on port ${instance.port}`, () => healthy(instance.port, tls.caCert), 60000, logFile);
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

export async function stopMinio(layout: StackLayout, instance: MinioInstance = minioInstances(layout).primary): Promise<boolean> {
  return stopDaemon(join(layout.run, `${instance.name}.pid`), instance.name);
}
