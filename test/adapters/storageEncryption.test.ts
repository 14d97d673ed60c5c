/**
 * The S3 client asks for the configured server-side encryption on every command that creates
 * an object, including the multipart uploads that large base backups use and copies, against
 * the stack's MinIO and its static KMS key.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { CopyObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { testCluster } from '../helpers/cluster.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { STACK_KMS_KEY_ID } from '../../scripts/stack/minio.js';

describe('server-side encryption of every write', () => {
  it.each([
    ['aes256', {}, 'AES256', undefined],
    ['kms', { kmsKeyId: STACK_KMS_KEY_ID }, 'aws:kms', `arn:aws:kms:${STACK_KMS_KEY_ID}`],
  ])('%s: a put, a multipart upload and a copy all report it in HEAD', async (mode, extra, algorithm, keyId) => {
    const tc = testCluster(`sse${mode}`, undefined, (raw) => Object.assign(raw.storage, { serverSideEncryption: mode, ...extra }));
    const s3 = createS3Client(tc.config.storage, createSecretReader());
    const bucket = tc.config.storage.bucket;
    const key = (name: string) => `${tc.config.storage.prefix}/${name}`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key('put'), Body: 'x' }));
    // Two 5 MiB parts and a tail: CreateMultipartUpload, as a large base backup does.
    const upload = new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key('multipart'), Body: randomBytes(11 * 1024 * 1024) },
      partSize: 5 * 1024 * 1024,
    });
    await upload.done();
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: key('copy'), CopySource: `${bucket}/${key('put')}` }));

    for (const name of ['put', 'multipart', 'copy']) {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key(name) }));
      expect({ name, sse: head.ServerSideEncryption, keyId: head.SSEKMSKeyId }).toEqual({ name, sse: algorithm, keyId });
    }
    const multipart = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key('multipart') }));
    expect(multipart.ETag).toMatch(/-3"$/); // really multipart: three parts
    s3.destroy();
  });
});
