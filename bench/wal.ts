/**
 * WAL archiving: `pgdr wal push` per-segment latency and sustained rate against
 * `pgbackrest archive-push` on the same real segments, then archive lag under a pgbench write
 * load (PGDR_BENCH_WAL_SECONDS, default 300) with archive_command = pgdr wal push.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, chownSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../scripts/stack/layout.js';
import { psql } from '../scripts/stack/postgres.js';
import { asUser, runTool, spawnTool } from '../adapters/gateway.js';
import { segmentNumber, segmentOfLsn } from '../domain/wal.js';
import type { BenchRow } from './backup.js';
import { benchStack, closedSegments } from './stack.js';

const SEGMENTS = Number(process.env.PGDR_BENCH_WAL_SEGMENTS ?? 20);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

export async function walBench(): Promise<BenchRow[]> {
  const { layout, plan, secrets } = await benchStack();
  const sql = (text: string) => psql(layout, plan, plan.primary.port, text, secrets);
  const run = Date.now().toString(36);
  const user = asUser(layout.pgUser);

  // 1. Real segments: write some WAL, then copy closed segments out of pg_wal.
  const walDir = join(plan.primary.dataDir, 'pg_wal');
  const names = await closedSegments(sql, plan.primary.dataDir, SEGMENTS);
  const scratch = join(layout.dir, 'bench-scratch', `wal-${run}`);
  mkdirSync(scratch, { recursive: true, mode: 0o755 });
  chmodSync(scratch, 0o755);
  for (const n of names) {
    copyFileSync(join(walDir, n), join(scratch, n));
    if (user) chownSync(join(scratch, n), user.uid, user.gid);
  }
  if (user) chownSync(scratch, user.uid, user.gid);

  // 2. pgdr wal push, as Postgres runs it (its own OS user, the bundled launcher), into a fresh prefix.
  const raw = parse(readFileSync(layout.configFile, 'utf8'));
  raw.storage.prefix = `bench-wal/${run}`;
  const benchConfig = join(scratch, 'pgdr.yaml');
  writeFileSync(benchConfig, stringify(raw), { mode: 0o644 });
  const pgdrTimes: number[] = [];
  const pgdrStart = performance.now();
  for (const n of names) {
    const t0 = performance.now();
    await runTool({
      tool: join(repoRoot, 'bin', 'pgdr'),
      args: ['wal', 'push', '--config', benchConfig, '--cluster', 'demo', join(scratch, n)],
      osUser: layout.pgUser,
    });
    pgdrTimes.push((performance.now() - t0) / 1000);
  }
  const pgdrTotal = (performance.now() - pgdrStart) / 1000;
  const startup = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await spawnTool({ tool: join(repoRoot, 'bin', 'pgdr'), args: ['wal', 'push'], osUser: layout.pgUser });
    startup.push((performance.now() - t0) / 1000);
  }

  // 3. pgbackrest archive-push of the same segments, repo in the same bucket over TLS, zstd level 3 like pgdr.
  const s3 = raw.storage;
  const url = new URL(s3.endpoint);
  const pbDir = join(scratch, 'pgbackrest');
  for (const d of [pbDir, join(pbDir, 'lock'), join(pbDir, 'log'), join(pbDir, 'spool')]) {
    mkdirSync(d, { recursive: true, mode: 0o750 });
    if (user) chownSync(d, user.uid, user.gid);
  }
  const pbEnv: Record<string, string> = {
    PGBACKREST_STANZA: 'walbench',
    PGBACKREST_REPO1_TYPE: 's3',
    PGBACKREST_REPO1_S3_ENDPOINT: 'localhost', // the certificate names localhost; pgBackRest checks DNS names only
    PGBACKREST_REPO1_STORAGE_PORT: url.port,
    PGBACKREST_REPO1_S3_BUCKET: s3.bucket,
    PGBACKREST_REPO1_S3_REGION: s3.region,
    PGBACKREST_REPO1_S3_URI_STYLE: 'path',
    PGBACKREST_REPO1_PATH: `/bench-wal/${run}/pgbackrest`,
    PGBACKREST_REPO1_STORAGE_CA_FILE: s3.caFile,
    PGBACKREST_REPO1_S3_KEY: readFileSync(s3.accessKeyId.file, 'utf8').trim(),
    PGBACKREST_REPO1_S3_KEY_SECRET: readFileSync(s3.secretAccessKey.file, 'utf8').trim(),
    PGBACKREST_PG1_PATH: plan.primary.dataDir,
    PGBACKREST_PG1_PORT: String(plan.primary.port),
    PGBACKREST_PG1_SOCKET_PATH: plan.socketDir,
    PGBACKREST_PG1_USER: 'postgres',
    PGBACKREST_COMPRESS_TYPE: 'zst',
    PGBACKREST_COMPRESS_LEVEL: '3',
    PGBACKREST_LOCK_PATH: join(pbDir, 'lock'),
    PGBACKREST_LOG_PATH: join(pbDir, 'log'),
    PGBACKREST_SPOOL_PATH: join(pbDir, 'spool'),
    PGBACKREST_LOG_LEVEL_CONSOLE: 'warn',
    PGBACKREST_LOG_LEVEL_FILE: 'off',
    PGPASSWORD: secrets.superuserPassword,
  };
  await runTool({ tool: 'pgbackrest', args: ['--no-online', 'stanza-create'], osUser: layout.pgUser, env: pbEnv });
  const pbTimes: number[] = [];
  const pbStart = performance.now();
  for (const n of names) {
    const t0 = performance.now();
    await runTool({ tool: 'pgbackrest', args: ['archive-push', join(scratch, n)], osUser: layout.pgUser, env: pbEnv });
    pbTimes.push((performance.now() - t0) / 1000);
  }
  const pbTotal = (performance.now() - pbStart) / 1000;

  // 4. Archive lag under a pgbench write load; archive_command is pgdr wal push (the stack's setting).
  const seconds = Number(process.env.PGDR_BENCH_WAL_SECONDS ?? 300);
  await runTool({
    tool: 'pgbench',
    binDir: layout.pgBin,
    args: ['-i', '-q', '-s', '10', '-h', plan.socketDir, '-p', String(plan.primary.port), '-U', 'postgres', 'postgres'],
    osUser: layout.pgUser,
    env: { PGPASSWORD: secrets.superuserPassword },
  });
  // Start from a caught-up archiver: pgbench -i itself writes a burst of WAL.
  await sql('select pg_switch_wal()');
  const caughtUp = Date.now() + 300_000;
  for (;;) {
    const [lsn, last] = (await sql(`select pg_current_wal_lsn(), coalesce(last_archived_wal, '') from pg_stat_archiver`)).split('|');
    if (/^[0-9A-F]{24}/.test(last ?? '') && segmentOfLsn(lsn!) - segmentNumber(last!.slice(0, 24)) - 1 <= 0) break;
    if (Date.now() > caughtUp) throw new Error(`the archiver did not catch up within 5 minutes (last archived ${last}, current ${lsn})`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const lsn0 = (await sql('select pg_current_wal_lsn()')).trim();
  const load = spawnTool({
    tool: 'pgbench',
    binDir: layout.pgBin,
    args: [
      '-n',
      '-c',
      '4',
      '-j',
      '2',
      '-T',
      String(seconds),
      '-h',
      plan.socketDir,
      '-p',
      String(plan.primary.port),
      '-U',
      'postgres',
      'postgres',
    ],
    osUser: layout.pgUser,
    env: { PGPASSWORD: secrets.superuserPassword },
  });
  let maxLag = 0;
  let samples = 0;
  const lags: number[] = [];
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const [lsn, last] = (await sql(`select pg_current_wal_lsn(), coalesce(last_archived_wal, '') from pg_stat_archiver`)).split('|');
    if (last && /^[0-9A-F]{24}/.test(last)) {
      // Closed segments not yet archived (the one being written does not count).
      const lag = Math.max(0, segmentOfLsn(lsn!) - segmentNumber(last.slice(0, 24)) - 1);
      lags.push(lag);
      maxLag = Math.max(maxLag, lag);
      samples++;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const loadResult = await load;
  const tps = /tps = ([\d.]+)/.exec(String(loadResult.stdout))?.[1] ?? '?';
  const lsn1 = (await sql('select pg_current_wal_lsn()')).trim();
  const walMB = Number(await sql(`select pg_wal_lsn_diff('${lsn1}', '${lsn0}') / 1048576`));
  const archiver = (await sql('select archived_count, failed_count from pg_stat_archiver')).trim();
  rmSync(scratch, { recursive: true, force: true });

  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  return [
    { metric: `wal push: segments pushed (16 MiB, real WAL)`, value: String(names.length) },
    { metric: 'pgdr wal push latency median / p95', value: `${ms(quantile(pgdrTimes, 0.5))} / ${ms(quantile(pgdrTimes, 0.95))}` },
    { metric: 'pgbackrest archive-push latency median / p95', value: `${ms(quantile(pbTimes, 0.5))} / ${ms(quantile(pbTimes, 0.95))}` },
    { metric: 'latency ratio pgdr / pgbackrest (median)', value: (quantile(pgdrTimes, 0.5) / quantile(pbTimes, 0.5)).toFixed(2) },
    {
      metric: 'sustained segments/s pgdr / pgbackrest (one at a time)',
      value: `${(names.length / pgdrTotal).toFixed(2)} / ${(names.length / pbTotal).toFixed(2)}`,
    },
    { metric: 'pgdr wal push start-up (usage error, median of 5)', value: ms(quantile(startup, 0.5)) },
    { metric: `pgbench write load: seconds, tps, WAL written`, value: `${seconds} s, ${tps}, ${walMB.toFixed(0)} MB` },
    {
      metric: 'archive lag during the load: max / median (segments)',
      value: `${maxLag} / ${quantile(lags, 0.5)} (${samples} samples)`,
      target: 'max <= 2',
    },
    { metric: 'archiver after the load: archived / failed', value: archiver.replace('|', ' / ') },
  ];
}
