/** The bench's own stack (.pgdr-stack/bench, ports +5000), shared by every bench part. */
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../config/load.js';
import { archiveCommands } from '../config/archiveCommands.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { enableArchivingOnNode } from '../activities/steps/archiving.js';
import type { StackLayout } from '../scripts/stack/layout.js';
import { join } from 'node:path';
import { stackLayout, repoRoot } from '../scripts/stack/layout.js';
import { stackUp } from '../scripts/stack/main.js';
import { demoClusterPlan, NO_ARCHIVE_COMMANDS, psql } from '../scripts/stack/postgres.js';
import { runTool } from '../adapters/gateway.js';

export async function benchStack() {
  const env = {
    ...process.env,
    PGDR_STACK_DIR: process.env.PGDR_STACK_DIR ?? join(repoRoot, '.pgdr-stack', 'bench'),
    PGDR_PORT_OFFSET: process.env.PGDR_PORT_OFFSET ?? '5000',
  };
  const layout = stackLayout(env);
  await stackUp(layout, { apps: false });
  const plan = demoClusterPlan(layout, NO_ARCHIVE_COMMANDS);
  const secret = (name: string) => readFileSync(join(layout.secrets, name), 'utf8').trim();
  return { layout, plan, secrets: { superuserPassword: secret('pg-superuser-password'), pgdrPassword: secret('pgdr-password') } };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Waits until the primary has no segment left to archive (no .ready in archive_status), then
 * 300 ms more, and answers how long that took. A timed run then starts from the same quiet
 * machine every time, instead of competing with the archiving (hashing, TLS, MinIO's write) of
 * the WAL that the run before it made: each backup, raw or pgdr's, ends a segment.
 */
export async function archiveSettled(
  { layout, plan, secrets }: Awaited<ReturnType<typeof benchStack>>,
  timeoutMs = 60_000,
): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const ready = Number(
      await psql(layout, plan, plan.primary.port, "select count(*) from pg_ls_archive_statusdir() where name like '%.ready'", secrets),
    );
    if (ready === 0) break;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`the bench primary still has ${ready} segments to archive after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 300));
  return Date.now() - t0;
}

const MB = 1024 * 1024;

/**
 * A pgbench database of PGDR_BENCH_SCALE (default 70, about 1.05 GB); made once, kept across runs
 * of the same scale (one left from a run at another scale is made again).
 */
export async function ensureBenchDb({ layout, plan, secrets }: Awaited<ReturnType<typeof benchStack>>): Promise<number> {
  const scale = Number(process.env.PGDR_BENCH_SCALE ?? 70);
  const size = Number(
    await psql(
      layout,
      plan,
      plan.primary.port,
      "select coalesce((select pg_database_size(oid) from pg_database where datname = 'bench'), 0)",
      secrets,
    ),
  );
  if (size < scale * 14 * MB || size > scale * 20 * MB) {
    console.log(`bench: pgbench -i -s ${scale} (about ${Math.round(scale * 15)} MB, once)`);
    await psql(layout, plan, plan.primary.port, 'drop database if exists bench; create database bench;', secrets);
    await runTool({
      tool: 'pgbench',
      binDir: layout.pgBin,
      args: ['-i', '-q', '-s', String(scale), '-h', plan.socketDir, '-p', String(plan.primary.port), '-U', 'postgres', 'bench'],
      osUser: layout.pgUser,
      env: { PGPASSWORD: secrets.superuserPassword },
    });
  }
  return scale;
}

/** The demo cluster's raw (pre-validation) config, as YAML gives it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type BenchClusterRaw = Record<string, any>;

/**
 * A cluster of its own over the bench primary: fresh S3 prefix and task queues, no schedules,
 * written to a config file (Postgres reads it when archive_command runs `pgdr wal push`).
 * Archiving goes through pgdr for the duration; the caller resets it afterwards.
 */
export async function benchCluster(layout: StackLayout, name: string, adjust: (demo: BenchClusterRaw) => BenchClusterRaw) {
  const run = Date.now().toString(36);
  const raw = parse(readFileSync(layout.configFile, 'utf8'));
  const demo = raw.clusters.demo;
  const agentQueue = `pgdr-${name}-agent-${run}`;
  raw.clusters = { [name]: { ...adjust(demo), archive: { checkCron: null }, nodes: { primary: { ...demo.nodes.primary, agentQueue } } } };
  raw.storage.prefix = `bench-${name}/${run}`;
  raw.temporal.taskQueue = `pgdr-${name}-${run}`;
  const dir = mkdtempSync(join(layout.dir, `${name}-`));
  chmodSync(dir, 0o755);
  const configFile = join(dir, 'pgdr.yaml');
  writeFileSync(configFile, stringify(raw), { mode: 0o644 });
  const config = parseConfig(raw, configFile);
  const readSecret = createSecretReader();
  const deps = { config, readSecret, s3: createS3Client(config.storage, readSecret) };
  await enableArchivingOnNode(deps, { cluster: name, node: 'primary', ...archiveCommands(config, name) });
  return { run, config, deps, agentQueue };
}

/**
 * Writes about `count` segments of WAL on the bench primary and returns the names of the newest
 * `count` closed segments of its timeline, still in pg_wal (real segments, as Postgres pushes them).
 */
export async function closedSegments(sql: (text: string) => Promise<string>, dataDir: string, count: number): Promise<string[]> {
  await sql(
    // Emptied first: the rows are only there to write WAL, and would otherwise grow every later backup.
    `create table if not exists walbench(id bigserial, pad text); truncate walbench; insert into walbench(pad) select repeat(md5(g::text), 20) from generate_series(1, ${count * 20000}) g; select pg_switch_wal();`,
  );
  const current = (await sql('select pg_walfile_name(pg_current_wal_lsn())')).trim();
  return readdirSync(join(dataDir, 'pg_wal'))
    .filter((n) => /^[0-9A-F]{24}$/.test(n) && n < current && n.slice(0, 8) === current.slice(0, 8))
    .sort()
    .slice(-count);
}
