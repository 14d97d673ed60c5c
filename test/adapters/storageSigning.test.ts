/**
 * How the S3 client signs what it uploads: over TLS the body is not hashed into the signature
 * (UNSIGNED-PAYLOAD) but still carries the SDK's CRC32, which the storage checks; over plain HTTP
 * (and over TLS with certificate checks turned off) the body's sha256 stays in the signature. Against the stack's MinIO over TLS: a put and a
 * multipart upload land and read back exactly, and a damaged body is refused by the storage.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { testBucket } from '../helpers/testBucket.js';
import { testCluster } from '../helpers/cluster.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { afterSigning, damageBody } from '../helpers/signedRequests.js';

type Sent = { method: string; headers: Record<string, string> };

/** Records each request as signed, just before it is sent; `corrupt` flips a byte of every body after signing. */
function recording(s3: S3Client, corrupt = false): Sent[] {
  const sent: Sent[] = [];
  afterSigning(s3, 'testRecordSigned', (request) => {
    sent.push({ method: request.method, headers: { ...request.headers } });
    if (corrupt) damageBody(request);
  });
  return sent;
}

describe('signing uploads', () => {
  const { bucket, key, client } = testBucket('signing');

  it('over TLS: bodies are not hashed into the signature, carry a CRC32, and land exactly', async () => {
    const s3 = client();
    const sent = recording(s3);
    const small = randomBytes(1000);
    const large = randomBytes(11 * 1024 * 1024);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key('put'), Body: small }));
    await new Upload({ client: s3, params: { Bucket: bucket, Key: key('multipart'), Body: large }, partSize: 5 * 1024 * 1024 }).done();
    const uploads = sent.filter((r) => r.method === 'PUT');
    expect(uploads).toHaveLength(4); // the put and three parts
    for (const r of uploads) {
      expect(r.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(r.headers['x-amz-checksum-crc32']).toMatch(/^[A-Za-z0-9+/]{6}==$/);
    }
    for (const [name, body] of [
      ['put', small],
      ['multipart', large],
    ] as const) {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key(name) }));
      const sha = createHash('sha256')
        .update(await got.Body!.transformToByteArray())
        .digest('hex');
      expect(sha, name).toBe(createHash('sha256').update(body).digest('hex'));
    }
    // A request without a body keeps the SDK's own (empty-body) hash.
    const gets = sent.filter((r) => r.method === 'GET');
    expect(gets.length).toBeGreaterThan(0);
    for (const r of gets) expect(r.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('over TLS: a body damaged after signing is refused by the storage (its CRC32 no longer matches)', async () => {
    const s3 = client();
    const sent = recording(s3, true);
    const refused = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key('damaged'), Body: randomBytes(1000) })).catch((e) => e);
    // Refused for its checksum: the signature covered no body hash that could have caught it.
    expect(sent.at(-1)?.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(`${refused?.name} ${refused?.message}`).toMatch(/checksum|digest/i);
    const clean = client();
    await expect(clean.send(new GetObjectCommand({ Bucket: bucket, Key: key('damaged') }))).rejects.toMatchObject({ name: 'NoSuchKey' });
  });

  it.each([
    ['over plain HTTP', { endpoint: 'http://198.18.255.254:9' }],
    ['over TLS whose certificate is not verified', { endpoint: 'https://198.18.255.254:9', insecureSkipTlsVerify: true }],
  ])("%s the body's sha256 stays in the signature", async (_how, storage) => {
    const http = testCluster('signing-hash', undefined, (raw) => Object.assign(raw.storage, storage));
    const s3 = createS3Client(http.config.storage, createSecretReader());
    onTestFinished(() => s3.destroy());
    const body = randomBytes(1000);
    // Captured as signed, then stopped before anything is sent.
    let signed: Record<string, string> | undefined;
    s3.middlewareStack.addRelativeTo(
      ((_next: unknown) => async (args: { request: { headers: Record<string, string> } }) => {
        signed = { ...args.request.headers };
        throw new Error('captured');
      }) as unknown as Parameters<typeof s3.middlewareStack.addRelativeTo>[0],
      { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'testCapture' },
    );
    await expect(s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body }))).rejects.toThrow('captured');
    expect(signed?.['x-amz-content-sha256']).toBe(createHash('sha256').update(body).digest('hex'));
  });
});
