/**
 * The cost of encryption at rest (age), each against the same work without it, measured in the
 * same run and interleaved (plain, encrypted, plain, ...) so drift hits both alike:
 * - backup throughput: pgdr's streaming step (pg_basebackup -> zstd -> [age] -> S3) on the bench
 *   database (verification off), PGDR_BENCH_RUNS each (default 3, median);
 * - `pgdr wal push` latency: real 16 MiB segments pushed as Postgres runs it (its OS user, the
 *   bundled launcher), each segment once per mode, into fresh prefixes.
 */
import { copyFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../scripts/stack/layout.js';
import { psql } from '../scripts/stack/postgres.js';
import { parseConfig } from '../config/load.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { asUser, runTool } from '../adapters/gateway.js';
import { uploadBaseBackup } from '../activities/steps/basebackup.js';
import { backupId } from '../domain/naming.js';
import type { BenchRow } from './backup.js';
import { benchStack, closedSegments, ensureBenchDb, median } from './stack.js';

const MB = 1024 * 1024;
const SEGMENTS = Number(process.env.PGDR_BENCH_WAL_SEGMENTS ?? 20);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export async function encryptionBench(): Promise<BenchRow[]> {
  const stack = await benchStack();
  const { layout, plan, secrets } = stack;
  await ensureBenchDb(stack);
  const sql = (text: string) => psql(layout, plan, plan.primary.port, text, secrets);
  const clusterBytes = Number(await sql('select sum(pg_database_size(datname)) from pg_database'));
  const runs = Number(process.env.PGDR_BENCH_RUNS ?? 3);
  const run = Date.now().toString(36);
  const user = asUser(layout.pgUser);

  // One age key; only its recipient is configured (a backup host needs no identity).
  const scratch = mkdtempSync(join(layout.dir, 'bench-enc-'));
  chmodSync(scratch, 0o755);
  await execa('age-keygen', ['-o', join(scratch, 'identity')]);
  const recipient = (await execa('age-keygen', ['-y', join(scratch, 'identity')])).stdout.trim();

  // Two configs over the demo cluster, differing only in encryption; files Postgres can read.
  const configFor = (mode: 'plain' | 'age') => {
    const raw = parse(readFileSync(layout.configFile, 'utf8'));
    raw.clusters.demo.backup = { ...raw.clusters.demo.backup, verify: false, schedules: {} };
    if (mode === 'age') raw.clusters.demo.encryption = { recipients: [recipient] };
    raw.storage.prefix = `bench-enc/${run}/${mode}`;
    const file = join(scratch, `pgdr.${mode}.yaml`);
    writeFileSync(file, stringify(raw), { mode: 0o644 });
    const config = parseConfig(raw, file);
    const readSecret = createSecretReader();
    return { file, deps: { config, readSecret, s3: createS3Client(config.storage, readSecret) } };
  };
  const modes = { plain: configFor('plain'), age: configFor('age') };

  // 1. Backup throughput: the streaming step itself, interleaved.
  const backupSeconds: Record<'plain' | 'age', number[]> = { plain: [], age: [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of ['plain', 'age'] as const) {
      const t0 = performance.now();
      const r = await uploadBaseBackup(modes[mode].deps, { cluster: 'demo', node: 'primary', backupId: backupId(new Date(), 'full') });
      backupSeconds[mode].push((performance.now() - t0) / 1000);
      if ((mode === 'age') !== !!r.encryption)
        throw new Error(`bench: the ${mode} backup came back ${r.encryption ? 'encrypted' : 'plain'}`);
    }
  }

  // 2. wal push latency: real closed segments, copied out of pg_wal, pushed as Postgres would.
  const walDir = join(plan.primary.dataDir, 'pg_wal');
  const names = await closedSegments(sql, plan.primary.dataDir, SEGMENTS);
  const segDir = join(scratch, 'wal');
  mkdirSync(segDir, { mode: 0o755 });
  for (const n of names) {
    copyFileSync(join(walDir, n), join(segDir, n));
    if (user) chownSync(join(segDir, n), user.uid, user.gid);
  }
  const pushSeconds: Record<'plain' | 'age', number[]> = { plain: [], age: [] };
  for (const n of names) {
    for (const mode of ['plain', 'age'] as const) {
      const t0 = performance.now();
      await runTool({
        tool: join(repoRoot, 'bin', 'pgdr'),
        args: ['wal', 'push', '--config', modes[mode].file, '--cluster', 'demo', join(segDir, n)],
        osUser: layout.pgUser,
      });
      pushSeconds[mode].push((performance.now() - t0) / 1000);
    }
  }
  await sql('drop table if exists walbench');
  rmSync(scratch, { recursive: true, force: true });

  const mbps = (s: number) => (clusterBytes / MB / s).toFixed(1);
  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  const [bp, ba] = [median(backupSeconds.plain), median(backupSeconds.age)];
  const [wp, wa] = [quantile(pushSeconds.plain, 0.5), quantile(pushSeconds.age, 0.5)];
  return [
    { metric: 'encryption: database size (all databases)', value: `${(clusterBytes / MB).toFixed(0)} MB` },
    { metric: 'encryption: backup runs of each, interleaved (median)', value: String(runs) },
    { metric: 'backup streaming step, plain: seconds (MB/s)', value: `${bp.toFixed(2)} (${mbps(bp)})` },
    { metric: 'backup streaming step, age: seconds (MB/s)', value: `${ba.toFixed(2)} (${mbps(ba)})` },
    { metric: 'backup throughput ratio age / plain', value: (bp / ba).toFixed(3), target: '>= 0.9' },
    { metric: `wal push: segments, each pushed plain and age`, value: String(names.length) },
    { metric: 'wal push latency plain: median / p95', value: `${ms(wp)} / ${ms(quantile(pushSeconds.plain, 0.95))}` },
    { metric: 'wal push latency age: median / p95', value: `${ms(wa)} / ${ms(quantile(pushSeconds.age, 0.95))}` },
    { metric: 'wal push latency ratio age / plain (median)', value: (wa / wp).toFixed(2), target: '<= 1.2' },
  ];
}
