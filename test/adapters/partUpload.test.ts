/**
 * The backup's streamed multipart upload into kept part buffers, against the stack's MinIO over
 * TLS: what lands is exactly what was read, no more parts are in flight than asked, a stream
 * that fits in one part is one PUT, and a failure (of the stream, or of a part the storage
 * refuses) leaves neither an object nor an unfinished multipart upload behind.
 */
import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GetObjectCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { testBucket } from '../helpers/testBucket.js';
import { uploadStream, type ChunkReader } from '../../adapters/partUpload.js';
import { afterSigning, damageBody } from '../helpers/signedRequests.js';

const MiB = 1024 * 1024;

/** `data` in chunks of uneven sizes (as a pipe gives them), optionally failing after `failAt` bytes; `read.bytes` counts what was taken. */
function chunked(data: Buffer, failAt?: number, read = { bytes: 0 }): Readable {
  const sizes = [44 * 1024, 65536, 1000, 3 * MiB + 7];
  return Readable.from(
    (function* () {
      let at = 0;
      for (let k = 0; at < data.length; k++) {
        if (failAt !== undefined && at >= failAt) throw new Error('the source broke');
        const n = sizes[k % sizes.length]!;
        yield data.subarray(at, at + n);
        at += n;
        read.bytes = Math.min(at, data.length);
      }
    })(),
  );
}

/** Counts requests by command as they are sent, the largest number of UploadParts at once, and can damage part bodies after signing. */
function watching(s3: S3Client, damagePart?: number) {
  const seen = { commands: [] as string[], partsAtOnce: 0, maxPartsAtOnce: 0 };
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? '';
      seen.commands.push(command);
      if (command !== 'UploadPartCommand') return next(args);
      seen.maxPartsAtOnce = Math.max(seen.maxPartsAtOnce, ++seen.partsAtOnce);
      try {
        return await next(args);
      } finally {
        seen.partsAtOnce--;
      }
    },
    { step: 'initialize', name: 'testWatch' },
  );
  if (damagePart !== undefined)
    afterSigning(s3, 'testDamage', (request) => {
      if (request.query?.partNumber === String(damagePart)) damageBody(request);
    });
  return seen;
}

describe('uploadStream', () => {
  const { bucket, key, client } = testBucket('partupload');
  const stored = async (s3: S3Client, k: string) =>
    Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: k }))).Body!.transformToByteArray());
  const unfinished = async (s3: S3Client, k: string) =>
    ((await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: k }))).Uploads ?? []).length;

  it('stores exactly the bytes read, in parts of partSize, with at most queueSize of them in flight', async () => {
    const s3 = client();
    const seen = watching(s3);
    const data = randomBytes(23 * MiB + 12345);
    const r = await uploadStream(chunked(data), {
      s3,
      params: { Bucket: bucket, Key: key('parts'), ContentType: 'application/x-tar' },
      partSize: 5 * MiB,
      queueSize: 2,
      hash: true,
    });
    expect(r).toEqual({ bytes: data.length, parts: 5, sha256: createHash('sha256').update(data).digest('hex') });
    expect((await stored(s3, key('parts'))).equals(data)).toBe(true);
    expect(seen.commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(5);
    expect(seen.maxPartsAtOnce).toBeGreaterThan(0);
    expect(seen.maxPartsAtOnce).toBeLessThanOrEqual(2);
    expect(await unfinished(s3, key('parts'))).toBe(0);
  });

  it('sends a stream that fits in one part as one PUT, and an empty one as an empty object', async () => {
    const s3 = client();
    const seen = watching(s3);
    const small = randomBytes(100_000);
    expect(
      await uploadStream(chunked(small), { s3, params: { Bucket: bucket, Key: key('small') }, partSize: 5 * MiB, queueSize: 4 }),
    ).toEqual({
      bytes: small.length,
      parts: 1,
    });
    expect((await stored(s3, key('small'))).equals(small)).toBe(true);
    await uploadStream(Readable.from([]), { s3, params: { Bucket: bucket, Key: key('empty') }, partSize: 5 * MiB, queueSize: 4 });
    expect((await stored(s3, key('empty'))).length).toBe(0);
    expect(seen.commands.filter((c) => c === 'PutObjectCommand')).toHaveLength(2);
    expect(seen.commands.filter((c) => c.includes('Multipart') || c === 'UploadPartCommand')).toEqual([]);
  });

  it('stores exactly the bytes read when a part is retried (its buffer is kept until the retry is done)', async () => {
    const s3 = client();
    const seen = watching(s3);
    let failed = 0;
    afterSigning(s3, 'testFailOnce', (request) => {
      if (request.query?.partNumber === '2' && failed++ === 0)
        throw Object.assign(new Error('injected: service unavailable'), {
          name: 'ServiceUnavailable',
          $metadata: { httpStatusCode: 503 },
          $retryable: {},
        });
    });
    const data = randomBytes(21 * MiB);
    const r = await uploadStream(chunked(data), {
      s3,
      params: { Bucket: bucket, Key: key('retried') },
      partSize: 5 * MiB,
      queueSize: 2,
      hash: true,
    });
    expect(failed).toBe(2); // the first attempt of part 2 failed, the second went through
    expect(r).toMatchObject({ bytes: data.length, parts: 5, sha256: createHash('sha256').update(data).digest('hex') });
    expect(seen.commands.filter((c) => c === 'UploadPartCommand')).toHaveLength(5); // one command, two attempts
    expect((await stored(s3, key('retried'))).equals(data)).toBe(true);
  });

  it('leaves no object and no unfinished upload when the stream fails after some parts were stored', async () => {
    const s3 = client();
    const seen = watching(s3);
    const data = randomBytes(16 * MiB);
    await expect(
      uploadStream(chunked(data, 12 * MiB), { s3, params: { Bucket: bucket, Key: key('broken') }, partSize: 5 * MiB, queueSize: 2 }),
    ).rejects.toThrow('the source broke');
    // Parts were stored (a multipart upload was begun), then the upload was aborted.
    expect(seen.commands).toEqual(
      expect.arrayContaining(['CreateMultipartUploadCommand', 'UploadPartCommand', 'AbortMultipartUploadCommand']),
    );
    await expect(s3.send(new GetObjectCommand({ Bucket: bucket, Key: key('broken') }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    expect(await unfinished(s3, key('broken'))).toBe(0);
  });

  it('fails with the storage refusal of a damaged part, stops reading, and leaves nothing behind', async () => {
    const s3 = client();
    const seen = watching(s3, 2);
    const data = randomBytes(40 * MiB);
    const read = { bytes: 0 };
    const source = chunked(data, undefined, read);
    const refused = await uploadStream(source, {
      s3,
      params: { Bucket: bucket, Key: key('refused') },
      partSize: 5 * MiB,
      queueSize: 1,
    }).catch((e: Error) => e);
    expect(`${(refused as Error).name} ${(refused as Error).message}`).toMatch(/checksum|digest/i);
    // With one part in flight, reading stops a few parts after the refused one, not at the end of the stream.
    expect(read.bytes).toBeLessThan(data.length);
    expect(seen.commands).toContain('AbortMultipartUploadCommand');
    await expect(s3.send(new GetObjectCommand({ Bucket: bucket, Key: key('refused') }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    expect(await unfinished(s3, key('refused'))).toBe(0);
  });

  /** `data` read through a ChunkReader (the pipe's way), failing after `failAt` bytes; `buffers` collects the part buffers it was given. */
  function reader(data: Buffer, buffers: Set<Buffer>, failAt?: number): ChunkReader {
    let at = 0;
    return {
      async readInto(into, offset, length) {
        buffers.add(into);
        if (failAt !== undefined && at >= failAt) throw new Error('the pipe broke');
        const n = data.copy(into, offset, at, Math.min(at + length, at + 1000 * 1024));
        at += n;
        return n;
      },
    };
  }

  it('gives the part buffers back once the object is stored, and keeps them after a failure', async () => {
    const s3 = client();
    const data = randomBytes(17 * MiB + 5);
    const given = new Set<Buffer>();
    const r = await uploadStream(reader(data, given), {
      s3,
      params: { Bucket: bucket, Key: key('released') },
      partSize: 5 * MiB,
      queueSize: 2,
    });
    expect(r).toMatchObject({ bytes: data.length, parts: 4 });
    expect((await stored(s3, key('released'))).equals(data)).toBe(true);
    // queueSize + 1 buffers at most, each detached (empty) now rather than left for a collection.
    expect(given.size).toBeGreaterThan(0);
    expect(given.size).toBeLessThanOrEqual(3);
    expect([...given].map((b) => b.length)).toEqual([...given].map(() => 0));

    // One PUT: its buffer goes back too.
    const one = new Set<Buffer>();
    await uploadStream(reader(randomBytes(MiB), one), {
      s3,
      params: { Bucket: bucket, Key: key('released1') },
      partSize: 5 * MiB,
      queueSize: 2,
    });
    expect([...one].map((b) => b.length)).toEqual([0]);

    // A failed upload: a request that failed may not have finished reading, so nothing is detached.
    const kept = new Set<Buffer>();
    await expect(
      uploadStream(reader(data, kept, 11 * MiB), { s3, params: { Bucket: bucket, Key: key('kept') }, partSize: 5 * MiB, queueSize: 2 }),
    ).rejects.toThrow('the pipe broke');
    expect([...kept].map((b) => b.length)).toEqual([...kept].map(() => 5 * MiB));
    expect(await unfinished(s3, key('kept'))).toBe(0);
  });

  it('refuses a part size below S3 minimum, naming the value, and ends its source without an error event', async () => {
    const source = Readable.from([Buffer.alloc(10)]);
    const errors: unknown[] = [];
    source.on('error', (e) => errors.push(e));
    await expect(
      uploadStream(source, { s3: client(), params: { Bucket: bucket, Key: key('x') }, partSize: 1024, queueSize: 4 }),
    ).rejects.toThrow('partSize 1024 is invalid: expected an integer of at least 5242880 bytes');
    expect(source.destroyed).toBe(true);
    expect(errors).toEqual([]);
  });
});
