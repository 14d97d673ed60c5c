/**
 * The WAL check's listing cost: LIST requests per check on an archive of PGDR_BENCH_WAL_OBJECTS
 * (default 2,000) segments, in full (the anchor: what every check cost before the index) and
 * incrementally after 10 more arrive, measured in the same run. The segments are small stand-in
 * objects under a prefix of the bench's own; listing cost depends on keys, not sizes.
 */
import { readFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { parseConfig } from '../config/load.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { walFolder } from '../adapters/catalogStore.js';
import { walContinuity } from '../activities/steps/walCheck.js';
import { DEFAULT_SEGMENT_BYTES, segmentName } from '../domain/wal.js';
import type { BenchRow } from './backup.js';
import { benchStack } from './stack.js';

export async function walCheckBench(): Promise<BenchRow[]> {
  const { layout } = await benchStack();
  const sizes = (process.env.PGDR_BENCH_WAL_OBJECTS ?? '2000,20000').split(',').map(Number);
  const rows: BenchRow[] = [];
  for (const count of sizes) rows.push(...(await listingCost(layout.configFile, count)));
  return rows;
}

async function listingCost(configFile: string, count: number): Promise<BenchRow[]> {
  const raw = parse(readFileSync(configFile, 'utf8'));
  raw.storage.prefix = `bench-walcheck/${Date.now().toString(36)}`;
  const config = parseConfig(raw, configFile);
  const readSecret = createSecretReader();
  const deps = { config, readSecret, s3: createS3Client(config.storage, readSecret) };
  const folder = walFolder(config.storage, 'demo');
  const put = async (from: number, n: number) => {
    let next = from;
    const lane = async () => {
      while (next < from + n) {
        const name = segmentName(1, next++);
        await deps.s3.send(new PutObjectCommand({ Bucket: config.storage.bucket, Key: `${folder}${name}.zst`, Body: name }));
      }
    };
    await Promise.all(Array.from({ length: 16 }, lane));
  };
  await put(1, count);
  const check = (listing: 'full' | 'incremental') =>
    walContinuity(deps, { cluster: 'demo', timeline: 1, segmentBytes: DEFAULT_SEGMENT_BYTES, listing });
  const t0 = Date.now();
  const full = await check('full');
  const fullMs = Date.now() - t0;
  await put(count + 1, 10);
  const t1 = Date.now();
  const incremental = await check('incremental');
  const incrementalMs = Date.now() - t1;
  deps.s3.destroy();
  if (incremental.continuity.missingCount !== 0 || incremental.listing?.mode !== 'incremental')
    throw new Error(
      `the incremental check did not hold: ${JSON.stringify(incremental.listing)}, ${incremental.continuity.missingCount} missing`,
    );
  const calls = (f: typeof full) => f.listing!.listCalls;
  return [
    { metric: `WAL check, ${count} segments archived: LIST calls in full`, value: String(calls(full)) },
    { metric: `  then 10 new: LIST calls incremental (timeline + sweep page)`, value: String(calls(incremental)) },
    {
      metric: '  LIST calls incremental / full',
      value: (calls(incremental) / calls(full)).toFixed(2),
      target: 'flat as the archive grows',
    },
    { metric: '  listing and continuity: ms full / incremental', value: `${fullMs} / ${incrementalMs}` },
  ];
}
