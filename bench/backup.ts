/** Backup throughput and worker memory: orchestrated basebackup to S3 vs raw pg_basebackup to a file. */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync, statSync, rmSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { stackLayout, repoRoot } from '../scripts/stack/layout.js';
import { stackUp } from '../scripts/stack.js';
import { demoClusterPlan, psql } from '../scripts/stack/postgres.js';
import { parseConfig } from '../config/load.js';
import { runTool, asUser } from '../activities/gateway.js';
import { backupInput } from '../api/procedures.js';
import { backup } from '../workflows/backup.js';

export interface BenchRow {
  metric: string;
  value: string;
  target?: string;
}

const MB = 1024 * 1024;

/** Peak resident set (VmHWM) of a process and its children, max over them, in bytes. */
function execaSyncPs(pgid: number): number {
  let peak = 0;
  const pids = readFileSync(`/proc/${pgid}/task/${pgid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  for (const pid of [pgid, ...pids]) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      /* exited */
    }
  }
  return peak;
}

export async function backupBench(): Promise<BenchRow[]> {
  const env = { ...process.env, PGDR_STACK_DIR: process.env.PGDR_STACK_DIR ?? join(repoRoot, '.pgdr-stack', 'bench'), PGDR_PORT_OFFSET: process.env.PGDR_PORT_OFFSET ?? '20000' };
  const layout = stackLayout(env);
  await stackUp(layout, { apps: false });
  const plan = demoClusterPlan(layout);
  const secrets = { superuserPassword: readFileSync(join(layout.secrets, 'pg-superuser-password'), 'utf8').trim(), pgdrPassword: readFileSync(join(layout.secrets, 'pgdr-password'), 'utf8').trim() };
  const scale = Number(process.env.PGDR_BENCH_SCALE ?? 70);

  // 1. A pgbench database of the wanted size (once; kept across runs).
  const size = Number(await psql(layout, plan, plan.primary.port, "select coalesce((select pg_database_size('bench')), 0)", secrets));
  if (size < scale * 14 * MB) {
    console.log(`bench: pgbench -i -s ${scale} (about ${Math.round(scale * 15)} MB, once)`);
    await psql(layout, plan, plan.primary.port, 'drop database if exists bench; create database bench;', secrets);
    await runTool({ tool: 'pgbench', binDir: layout.pgBin, args: ['-i', '-q', '-s', String(scale), '-h', plan.socketDir, '-p', String(plan.primary.port), '-U', 'postgres', 'bench'], osUser: layout.pgUser, env: { PGPASSWORD: secrets.superuserPassword } });
  }
  const clusterBytes = Number(await psql(layout, plan, plan.primary.port, 'select sum(pg_database_size(datname)) from pg_database', secrets));

  // 2. Raw: pg_basebackup with the same compression, to a local file.
  const scratch = join(layout.dir, 'bench-scratch');
  mkdirSync(scratch, { recursive: true });
  const ids = asUser(layout.pgUser);
  if (ids) chownSync(scratch, ids.uid, ids.gid);
  const rawFile = join(scratch, 'raw.tar.zst');
  const t0 = Date.now();
  await runTool({
    tool: 'bash',
    args: ['-c', `${layout.pgBin}/pg_basebackup -h 127.0.0.1 -p ${plan.primary.port} -U pgdr -D - -F t -X fetch -c fast --compress=client-zstd --no-password > ${rawFile}`],
    osUser: layout.pgUser,
    env: { PGPASSWORD: secrets.pgdrPassword },
  });
  const rawSeconds = (Date.now() - t0) / 1000;
  const rawBytes = statSync(rawFile).size;
  rmSync(rawFile);

  // 3. pgdr: the backup workflow (verification off: this measures the backup itself), with
  //    the worker as its own process so its peak RSS can be read.
  const raw = parse(readFileSync(layout.configFile, 'utf8'));
  raw.clusters.demo.backup = { ...raw.clusters.demo.backup, verify: false, schedules: {} };
  raw.temporal.taskQueue = 'pgdr-bench';
  for (const n of Object.keys(raw.clusters.demo.nodes)) raw.clusters.demo.nodes[n].agentQueue = `pgdr-bench-${n}`;
  const benchConfig = join(layout.dir, 'pgdr.bench.yaml');
  writeFileSync(benchConfig, stringify(raw));
  const config = parseConfig(raw, benchConfig);
  const worker = execa(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'worker/main.ts')], { env: { PGDR_CONFIG: benchConfig }, detached: true, reject: false, all: true });
  await new Promise<void>((resolve) => worker.all!.on('data', (d: Buffer) => d.toString().includes('pgdr worker polling') && resolve()));
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, execaSyncPs(worker.pid!))), 200);
  const t1 = Date.now();
  const result = await client.workflow.execute(backup, { taskQueue: config.temporal.taskQueue, workflowId: `backup/demo/bench-${Date.now()}`, args: [{ ...backupInput(config, 'demo', 'full', 'bench'), expire: false }] });
  const pgdrSeconds = (Date.now() - t1) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, execaSyncPs(worker.pid!));
  process.kill(-worker.pid!, 'SIGTERM');
  await worker;
  await connection.close();

  const mbps = (bytes: number, s: number) => (bytes / MB / s).toFixed(1);
  return [
    { metric: 'database size (all databases)', value: `${(clusterBytes / MB).toFixed(0)} MB` },
    { metric: 'raw pg_basebackup -Ft zstd to local file: seconds', value: rawSeconds.toFixed(2) },
    { metric: 'raw: throughput (database MB/s)', value: mbps(clusterBytes, rawSeconds) },
    { metric: 'pgdr backup workflow to S3 (no verify): seconds', value: pgdrSeconds.toFixed(2) },
    { metric: 'pgdr: throughput (database MB/s)', value: mbps(clusterBytes, pgdrSeconds) },
    { metric: 'throughput ratio pgdr / raw', value: (rawSeconds / pgdrSeconds).toFixed(3), target: '>= 0.9' },
    { metric: 'stored size pgdr / raw (same compression)', value: (result.manifest.bytes / rawBytes).toFixed(3) },
    { metric: 'worker peak RSS during the backup', value: `${(peak / MB).toFixed(0)} MB`, target: '<= 300 MB' },
    { metric: 'pgbackrest method vs bare pgbackrest backup', value: 'not yet', target: '<= 1.05' },
  ];
}
