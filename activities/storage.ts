/**
 * S3-compatible storage: one client per worker, TLS verified against the configured CA
 * (verification is only ever off when the config explicitly says insecureSkipTlsVerify).
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { S3Client, HeadBucketCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { PgdrConfig } from '../config/schema.js';
import type { SecretReader } from './secrets.js';

export function createS3Client(storage: PgdrConfig['storage'], readSecret: SecretReader): S3Client {
  const httpsAgent = new Agent({
    keepAlive: true,
    maxSockets: 16,
    ca: storage.caFile ? readFileSync(storage.caFile) : undefined,
    rejectUnauthorized: !storage.insecureSkipTlsVerify,
  });
  return new S3Client({
    endpoint: storage.endpoint,
    region: storage.region,
    forcePathStyle: storage.forcePathStyle,
    // Resolved lazily, on the worker, each time the SDK needs them.
    credentials: async () => ({
      accessKeyId: readSecret(storage.accessKeyId, 'storage.accessKeyId'),
      secretAccessKey: readSecret(storage.secretAccessKey, 'storage.secretAccessKey'),
    }),
    requestHandler: new NodeHttpHandler({ httpsAgent, connectionTimeout: 5000, requestTimeout: 60000 }),
    maxAttempts: 3,
  });
}

/** Throws unless the bucket exists and the credentials may use it. */
export async function checkBucket(s3: S3Client, bucket: string): Promise<void> {
  await s3.send(new HeadBucketCommand({ Bucket: bucket }));
}
