/**
 * Waiting for storage: an unreachable endpoint is waited on (heartbeating) up to
 * storage.outageWaitSeconds, then STORAGE_UNAVAILABLE; an answer that is a refusal (bad
 * credentials) is not an outage and fails at once.
 */
import { describe, expect, it } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { testCluster } from '../helpers/cluster.js';
import { awaitStorage, createS3Client, isUnreachable } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { StorageUnavailableError } from '../../domain/errors.js';
import { freePort } from '../../scripts/stack/procs.js';

/** Runs fn against an http endpoint that accepts connections and never answers. */
async function withSilentPeer(fn: (endpoint: string) => Promise<void>): Promise<void> {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    await fn(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
  } finally {
    silent.close();
  }
}

describe('awaitStorage', () => {
  const tc = testCluster('stwait');
  const reader = createSecretReader();

  it('returns at once when the bucket answers', async () => {
    const beats: unknown[] = [];
    const r = await awaitStorage(createS3Client(tc.config.storage, reader), tc.config.storage, {
      beat: (d) => beats.push(d),
      signal: new AbortController().signal,
    });
    expect(r.waitedSeconds).toBeLessThan(5);
    expect(beats).toEqual([]);
  });

  it('waits, heartbeating, on a closed port, then fails naming the endpoint', async () => {
    const storage = { ...tc.config.storage, endpoint: `https://127.0.0.1:${await freePort()}`, outageWaitSeconds: 2 };
    const beats: { phase: string; endpoint: string; error: string }[] = [];
    const err = await awaitStorage(createS3Client(storage, reader), storage, {
      beat: (d) => beats.push(d),
      signal: new AbortController().signal,
      pollMs: 200,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect((err as Error).message).toContain(`storage at ${storage.endpoint} was unreachable`);
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(beats[0]).toMatchObject({ phase: 'waiting for storage', endpoint: storage.endpoint });
    expect(beats[0]!.error).toMatch(/ECONNREFUSED/);
  });

  it('does not wait on a refusal: wrong credentials fail at once', async () => {
    process.env.PGDR_TEST_WRONG_SECRET = 'not-the-secret-key';
    const storage = { ...tc.config.storage, secretAccessKey: { env: 'PGDR_TEST_WRONG_SECRET' } };
    const beats: unknown[] = [];
    const err = await awaitStorage(createS3Client(storage, reader), storage, {
      beat: (d) => beats.push(d),
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(StorageUnavailableError);
    expect(isUnreachable(err)).toBe(false);
    expect(beats).toEqual([]);
  });

  it('fails a request to storage that accepts the connection and then says nothing, after idleTimeoutSeconds, as an outage', async () => {
    // A peer behind a partition that drops packets: the connection is up, no byte ever comes back.
    await withSilentPeer(async (endpoint) => {
      const storage = { ...tc.config.storage, endpoint, idleTimeoutSeconds: 5 };
      const s3 = createS3Client(storage, reader);
      const err = await s3
        .send(new PutObjectCommand({ Bucket: storage.bucket, Key: 'silent', Body: 'x' }), { abortSignal: AbortSignal.timeout(120_000) })
        .catch((e: unknown) => e);
      s3.destroy();
      expect((err as Error).name).toBe('TimeoutError');
      expect((err as Error).message).toContain('timed out after 5000 ms of inactivity');
      expect(isUnreachable(err)).toBe(true);
    });
  }, 120_000);

  it('stops at once with its reason when aborted: during a request that gets no answer, and between polls', async () => {
    // Without the abort, the first wait would end at the request's idle timeout (120 s), the second after a minute's poll.
    await withSilentPeer(async (endpoint) => {
      const hung = { ...tc.config.storage, endpoint, idleTimeoutSeconds: 120 };
      const s3 = createS3Client(hung, reader);
      const stop = new AbortController();
      const reason = new Error('the node is no longer the primary');
      setTimeout(() => stop.abort(reason), 300);
      await expect(awaitStorage(s3, hung, { beat: () => undefined, signal: stop.signal })).rejects.toBe(reason);
      s3.destroy();
    });
    const closed = { ...tc.config.storage, endpoint: `https://127.0.0.1:${await freePort()}`, outageWaitSeconds: 600 };
    const stop = new AbortController();
    const reason = new Error('cancelled');
    const beats: unknown[] = [];
    const waiting = awaitStorage(createS3Client(closed, reader), closed, {
      beat: (d) => {
        beats.push(d);
        stop.abort(reason);
      },
      signal: stop.signal,
      pollMs: 60_000,
    });
    await expect(waiting).rejects.toBe(reason);
    expect(beats).toHaveLength(1);
  }, 30_000);

  it('tells outages from refusals', () => {
    expect(isUnreachable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnreachable({ name: 'InternalError', message: 'x', $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isUnreachable({ name: 'TimeoutError', message: 'timed out' })).toBe(true);
    expect(isUnreachable({ name: 'Forbidden', message: 'Forbidden', $metadata: { httpStatusCode: 403 } })).toBe(false);
    expect(isUnreachable({ name: 'NotFound', message: 'NotFound', $metadata: { httpStatusCode: 404 } })).toBe(false);
  });
});
