/**
 * The stack's bucket under a test cluster's own prefix, with S3 clients built as pgdr builds them
 * (createS3Client) and destroyed after the file's tests.
 */
import { afterAll } from 'vitest';
import type { S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { testCluster, type TestCluster } from './cluster.js';

export function testBucket(prefix: string): { tc: TestCluster; bucket: string; key(name: string): string; client(): S3Client } {
  const tc = testCluster(prefix);
  const clients: S3Client[] = [];
  afterAll(() => clients.forEach((c) => c.destroy()));
  return {
    tc,
    bucket: tc.config.storage.bucket,
    key: (name) => `${tc.config.storage.prefix}/${name}`,
    client: () => {
      const s3 = createS3Client(tc.config.storage, createSecretReader());
      clients.push(s3);
      return s3;
    },
  };
}
