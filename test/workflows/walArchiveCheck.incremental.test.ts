/**
 * The WAL check lists only what is new since the last one: one LIST per timeline from the newest
 * key it has seen (S3 StartAfter), the rest from its index in S3. A full listing runs without an
 * index, on demand (`fullListing`, `pgdr wal check --full`), at least daily, and before a gap seen
 * through the index is reported.
 * - the incremental listing returns only the new objects and reaches the same continuity;
 * - a segment deleted after it was indexed is not seen by the incremental listing, and is found
 *   by the next full one (here: the daily one, the index aged by a day);
 * - an object the index never saw behind a stream's last key (an out-of-order arrival) looks like
 *   a gap, and a full listing proves the archive whole before anything is reported.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { pitrSource, type PitrSource } from '../helpers/restore.js';
import { switchAndArchive } from '../helpers/ticks.js';
import { listArchivedWal } from '../../adapters/walStore.js';
import { walIndexKey } from '../../adapters/walIndex.js';
import { getJson, putJson } from '../../adapters/storage.js';
import { segmentName, segmentNumber } from '../../domain/wal.js';
import type { WalIndex } from '../../domain/walIndex.js';
import type { WalCheckResult } from '../../domain/walCheck.js';

describe('the incremental WAL check', () => {
  let src: PitrSource;
  const deps = () => ({ config: src.tc.config, s3: src.c.s3 });
  const bucket = () => src.tc.config.storage.bucket;

  /** Runs a check and returns the stored result (an unhealthy one fails its workflow; the stored result says why). */
  async function check(body: Record<string, unknown> = {}): Promise<WalCheckResult> {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/wal-archive/check`, body);
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    await src.c.temporal.workflow
      .getHandle(res.body.workflowId)
      .result()
      .catch(() => undefined);
    const stored = (await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/wal-archive`)).body as WalCheckResult;
    expect(stored.workflowId).toBe(res.body.workflowId);
    return stored;
  }
  const index = async () => (await getJson<WalIndex>(src.c.s3, bucket(), walIndexKey(deps(), src.tc.name)))!;
  const storeIndex = (i: WalIndex) => putJson(src.c.s3, bucket(), walIndexKey(deps(), src.tc.name), i);

  beforeAll(async () => {
    src = await pitrSource('walidx', { tickSeconds: 4 });
  }, 240_000);
  afterAll(async () => src?.close());

  it('lists only the new objects, one LIST for the one timeline, and reaches the same continuity as a full listing', async () => {
    const first = await check();
    expect(first).toMatchObject({ healthy: true, listing: { mode: 'full', why: 'no index yet' } });
    for (let i = 0; i < 3; i++) {
      await src.db.query('insert into ticks values ($1, now())', [9000 + i]);
      await switchAndArchive(src.db);
    }
    const incremental = await check();
    expect(incremental.healthy, incremental.problems.join('; ')).toBe(true);
    expect(incremental.listing).toMatchObject({ mode: 'incremental', why: null, listCalls: 1, fullScanAt: first.listing!.fullScanAt });
    // The three switched segments (the round trip's switch of an empty segment adds none): nothing listed twice.
    expect(incremental.listing!.listedObjects).toBeGreaterThanOrEqual(3);
    expect(incremental.listing!.listedObjects).toBeLessThan(incremental.continuity!.archivedObjects);
    expect(incremental.continuity!.archivedObjects).toBe((await listArchivedWal(deps(), src.tc.name)).length);
    expect(incremental.continuity!.lastSegment! > first.continuity!.lastSegment!).toBe(true);

    const full = await check({ fullListing: true });
    expect(full).toMatchObject({ healthy: true, listing: { mode: 'full', why: 'asked for' } });
    expect(full.listing!.listedObjects).toBe(full.continuity!.archivedObjects);
    expect(full.continuity).toMatchObject({ fromSegment: incremental.continuity!.fromSegment, missingCount: 0 });
    const cli = await src.c.cli(['wal', 'check', src.tc.name, '--full', '--wait']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/listing +full \(asked for\): 1 LIST call\(s\)/);
  }, 180_000);

  it('does not see a segment deleted after it was indexed until the next full listing, which the daily one finds', async () => {
    const segments = (await listArchivedWal(deps(), src.tc.name)).filter((a) => /^[0-9A-F]{24}$/.test(a.name));
    const victim = segments[Math.floor(segments.length / 2)]!;
    const body = Buffer.from(
      await (await src.c.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: victim.key }))).Body!.transformToByteArray(),
    );
    const meta = (await src.c.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: victim.key }))).Metadata;
    await src.c.s3.send(new DeleteObjectCommand({ Bucket: bucket(), Key: victim.key }));
    try {
      // Incremental: the deleted segment is still in the index, so this check cannot know.
      const blind = await check();
      expect(blind).toMatchObject({ healthy: true, listing: { mode: 'incremental' } });
      // A day later the check lists in full, and the gap is there, named.
      const i = await index();
      await storeIndex({ ...i, fullScanAt: new Date(Date.now() - 25 * 3_600_000).toISOString() });
      const daily = await check();
      expect(daily.listing).toMatchObject({ mode: 'full', why: 'the last full listing is 25 h old' });
      expect(daily.healthy).toBe(false);
      expect(daily.continuity!.missing).toContain(victim.name);
    } finally {
      await src.c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: victim.key, Body: body, Metadata: meta }));
    }
    const whole = await check({ fullListing: true });
    expect(whole.healthy, whole.problems.join('; ')).toBe(true);
  }, 180_000);

  it('proves a gap seen through the index with a full listing before telling anyone (an out-of-order arrival)', async () => {
    // The index loses a segment that is in S3 and sorts before its timeline's newest key: what a
    // segment uploaded after a later one looks like to a listing that starts after that later one.
    const i = await index();
    const [first, count] = i.runs['1']!.find(([, n]) => n >= 3)!;
    const start = segmentNumber(first, i.segmentBytes);
    const hidden = segmentName(1, start + 1, i.segmentBytes);
    const runs = i.runs['1']!.flatMap(([f, n]): [string, number][] =>
      f === first
        ? [
            [f, 1],
            [segmentName(1, start + 2, i.segmentBytes), n - 2],
          ]
        : [[f, n]],
    );
    expect(runs.flat()).not.toContain(hidden);
    await storeIndex({ ...i, runs: { ...i.runs, '1': runs } });
    expect(count).toBeGreaterThanOrEqual(3);
    const proven = await check();
    expect(proven.healthy, proven.problems.join('; ')).toBe(true);
    expect(proven.listing).toMatchObject({ mode: 'full', why: 'the listing since the last check showed a gap' });
    expect(proven.listing!.listCalls).toBeGreaterThanOrEqual(2);
    // The rebuilt index has the segment again.
    const rebuilt = await index();
    const names = rebuilt.runs['1']!.flatMap(([f, n]) =>
      Array.from({ length: n }, (_, k) => segmentName(1, segmentNumber(f, rebuilt.segmentBytes) + k, rebuilt.segmentBytes)),
    );
    expect(names).toContain(hidden);
  }, 180_000);
});
