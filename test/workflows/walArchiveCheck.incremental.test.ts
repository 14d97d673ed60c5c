/**
 * The WAL check lists only what is new since the last one: one LIST per timeline from the newest
 * key it has seen (S3 StartAfter), the rest from its index in S3. A full listing runs without an
 * index, on demand (`fullListing`, `pgdr wal check --full`), at least daily, and before a gap seen
 * through the index is reported.
 * - the incremental listing returns only the new objects and reaches the same continuity;
 * - a segment deleted after it was indexed is found at the next check: each check also re-lists
 *   one page of the whole archive (the sweep), and a full listing proves and names the gap; a
 *   full listing also runs by itself once the last one is a day old;
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
    // One LIST for the one timeline, one for the sweep's page.
    expect(incremental.listing).toMatchObject({ mode: 'incremental', why: null, listCalls: 2, fullScanAt: first.listing!.fullScanAt });
    // The three switched segments (the round trip's switch of an empty segment adds none): nothing listed twice.
    expect(incremental.listing!.listedObjects).toBeGreaterThanOrEqual(3);
    expect(incremental.listing!.listedObjects).toBeLessThanOrEqual(4);
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

  it('finds a segment deleted after it was indexed at the next check (the sweep), and the daily full listing runs by itself', async () => {
    const segments = (await listArchivedWal(deps(), src.tc.name)).filter((a) => /^[0-9A-F]{24}$/.test(a.name));
    const victim = segments[Math.floor(segments.length / 2)]!;
    const got = await src.c.s3.send(new GetObjectCommand({ Bucket: bucket(), Key: victim.key }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    await src.c.s3.send(new DeleteObjectCommand({ Bucket: bucket(), Key: victim.key }));
    try {
      // The sweep's page (the whole archive here: under 1000 objects) no longer holds it: a full listing proves and names it.
      const red = await check();
      expect(red.listing).toMatchObject({ mode: 'full', why: `the sweep no longer found 1 indexed object(s), the first ${victim.name}` });
      expect(red.healthy).toBe(false);
      expect(red.continuity).toMatchObject({ missingCount: 1, missing: [victim.name] });
    } finally {
      await src.c.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: victim.key, Body: body, Metadata: got.Metadata }));
    }
    // A day after the last full listing the check lists in full by itself.
    const i = await index();
    await storeIndex({ ...i, fullScanAt: new Date(Date.now() - 25 * 3_600_000).toISOString() });
    const daily = await check();
    expect(daily.listing).toMatchObject({ mode: 'full', why: 'the last full listing is 25 h old' });
    expect(daily.healthy, daily.problems.join('; ')).toBe(true);
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
    // An index that is not one (a hand edit gone wrong) is listed past, in full.
    await putJson(src.c.s3, bucket(), walIndexKey(deps(), src.tc.name), { runs: 'garbled' });
    const past = await check();
    expect(past).toMatchObject({ healthy: true, listing: { mode: 'full', why: 'the index was unreadable' } });
  }, 180_000);
});
