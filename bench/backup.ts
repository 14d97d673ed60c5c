/** Backup throughput and worker memory: orchestrated basebackup to S3 vs raw pg_basebackup to a file. */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync, statSync, rmSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { repoRoot } from '../scripts/stack/layout.js';
import { psql } from '../scripts/stack/postgres.js';
import { parseConfig } from '../config/load.js';
import { runTool, asUser } from '../adapters/gateway.js';
import { backupInput } from '../control/inputs.js';
import { backup } from '../workflows/backup.js';
import { unlessRefused } from '../workflows/lock.js';

import { ensureBenchDb, benchStack, median } from './stack.js';
import { backupStages } from './stages.js';

export interface BenchRow {
  metric: string;
  value: string;
  target?: string;
}

const MB = 1024 * 1024;

/** Peak resident set (VmHWM) of a process and its children, max over them, in bytes. */
function peakRss(pgid: number): number {
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
  const { layout, plan, secrets } = await benchStack();
  await ensureBenchDb({ layout, plan, secrets });
  const clusterBytes = Number(
    await psql(layout, plan, plan.primary.port, 'select sum(pg_database_size(datname)) from pg_database', secrets),
  );

  const runs = Number(process.env.PGDR_BENCH_RUNS ?? 3);

  // 2. Raw: pg_basebackup with the same compression, to a local file.
  const scratch = join(layout.dir, 'bench-scratch');
  mkdirSync(scratch, { recursive: true });
  const ids = asUser(layout.pgUser);
  if (ids) chownSync(scratch, ids.uid, ids.gid);
  const rawFile = join(scratch, 'raw.tar.zst');
  const rawTimes: number[] = [];
  let rawBytes = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    await runTool({
      tool: 'bash',
      args: [
        '-c',
        `${layout.pgBin}/pg_basebackup -h 127.0.0.1 -p ${plan.primary.port} -U pgdr -D - -F t -X fetch -c fast --compress=client-zstd --no-password > ${rawFile}`,
      ],
      osUser: layout.pgUser,
      env: { PGPASSWORD: secrets.pgdrPassword },
    });
    rawTimes.push((Date.now() - t0) / 1000);
    rawBytes = statSync(rawFile).size;
    rmSync(rawFile);
  }
  const rawSeconds = median(rawTimes);

  // 2b. Stage by stage, and the second anchor: the raw tools streaming into the same MinIO (mc pipe).
  const stages = await backupStages({ layout, plan, secrets }, runs, clusterBytes);
  const toS3 = stages.find((st) => st.name.includes('anchor 2'))!;

  // 3. pgdr: the backup workflow (verification off: this measures the backup itself). As in
  //    production, the control worker and the node agent are separate processes; the agent
  //    is the one that streams, so its peak RSS is what the target is about.
  const raw = parse(readFileSync(layout.configFile, 'utf8'));
  raw.clusters.demo.backup = { ...raw.clusters.demo.backup, verify: false, schedules: {} };
  raw.temporal.taskQueue = 'pgdr-bench';
  for (const n of Object.keys(raw.clusters.demo.nodes)) raw.clusters.demo.nodes[n].agentQueue = `pgdr-bench-${n}`;
  const benchConfig = join(layout.dir, 'pgdr.bench.yaml');
  writeFileSync(benchConfig, stringify(raw));
  const config = parseConfig(raw, benchConfig);
  const spawnWorker = (role: string) =>
    execa(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'worker/main.ts')], {
      env: { PGDR_CONFIG: benchConfig, PGDR_ROLE: role },
      detached: true,
      reject: false,
      all: true,
    });
  const ready = (w: ReturnType<typeof spawnWorker>) =>
    new Promise<void>((resolve) => w.all!.on('data', (d: Buffer) => d.toString().includes('pgdr worker polling') && resolve()));
  const control = spawnWorker('control');
  const agent = spawnWorker('agent');
  await Promise.all([ready(control), ready(agent)]);
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection });
  await new Promise((r) => setTimeout(r, 1000));
  const idleAgent = peakRss(agent.pid!);
  const idleControl = peakRss(control.pid!);
  let peakAgent = 0;
  const sampler = setInterval(() => (peakAgent = Math.max(peakAgent, peakRss(agent.pid!))), 100);
  const wfTimes: number[] = [];
  const upTimes: number[] = [];
  let stored = 0;
  for (let i = 0; i < runs; i++) {
    const t1 = Date.now();
    const workflowId = `backup/demo/bench-${Date.now()}`;
    const result = await client.workflow.execute(backup, {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [{ ...backupInput(config, 'demo', 'full', 'bench'), expire: false }],
    });
    wfTimes.push((Date.now() - t1) / 1000);
    stored = unlessRefused(result).manifest.bytes;
    // The streaming activity alone, from the history: started -> completed.
    const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const sched = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'uploadBaseBackup');
    const started = events.find(
      (e) =>
        e.activityTaskStartedEventAttributes && String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(sched?.eventId),
    );
    const completed = events.find(
      (e) =>
        e.activityTaskCompletedEventAttributes &&
        String(e.activityTaskCompletedEventAttributes.scheduledEventId) === String(sched?.eventId),
    );
    const ms = (e: typeof started) => Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.round(Number(e?.eventTime?.nanos ?? 0) / 1e6);
    upTimes.push((ms(completed) - ms(started)) / 1000);
  }
  clearInterval(sampler);
  peakAgent = Math.max(peakAgent, peakRss(agent.pid!));
  const peakControl = peakRss(control.pid!);
  for (const w of [control, agent]) process.kill(-w.pid!, 'SIGTERM');
  await Promise.all([control, agent]);
  await connection.close();
  const pgdrSeconds = median(wfTimes);
  const uploadSeconds = median(upTimes);

  const mbps = (bytes: number, s: number) => (bytes / MB / s).toFixed(1);
  return [
    { metric: 'database size (all databases)', value: `${(clusterBytes / MB).toFixed(0)} MB` },
    { metric: `runs of each (median shown)`, value: String(runs) },
    { metric: 'raw pg_basebackup -Ft zstd to local file: seconds', value: rawSeconds.toFixed(2) },
    { metric: 'raw: throughput (database MB/s)', value: mbps(clusterBytes, rawSeconds) },
    { metric: 'pgdr backup workflow to S3 (no verify): seconds', value: pgdrSeconds.toFixed(2) },
    { metric: 'pgdr: throughput (database MB/s)', value: mbps(clusterBytes, pgdrSeconds) },
    { metric: 'throughput ratio pgdr / raw (whole workflow)', value: (rawSeconds / pgdrSeconds).toFixed(3), target: '>= 0.9' },
    { metric: 'pgdr streaming activity alone: seconds', value: uploadSeconds.toFixed(2) },
    { metric: 'throughput ratio streaming activity / raw', value: (rawSeconds / uploadSeconds).toFixed(3) },
    ...stages.map((st) => ({
      metric: `stage: ${st.name}`,
      value: `${st.seconds.toFixed(2)} s, ${mbps(clusterBytes, st.seconds)} MB/s`,
    })),
    { metric: 'throughput ratio pgdr workflow / raw-to-S3 (mc pipe)', value: (toS3.seconds / pgdrSeconds).toFixed(3), target: '>= 0.97' },
    { metric: 'throughput ratio streaming activity / raw-to-S3 (mc pipe)', value: (toS3.seconds / uploadSeconds).toFixed(3) },
    { metric: 'stored backup size', value: `${(stored / MB).toFixed(1)} MB` },
    { metric: 'stored size pgdr / raw (same compression)', value: (stored / rawBytes).toFixed(3) },
    { metric: 'node agent RSS when idle', value: `${(idleAgent / MB).toFixed(0)} MB` },
    { metric: 'node agent peak RSS (streams the backup)', value: `${(peakAgent / MB).toFixed(0)} MB`, target: '<= 300 MB' },
    {
      metric: 'control worker RSS idle / peak (workflow bundle)',
      value: `${(idleControl / MB).toFixed(0)} / ${(peakControl / MB).toFixed(0)} MB`,
    },
    { metric: 'pgbackrest method vs bare pgbackrest backup', value: 'not yet', target: '<= 1.05' },
  ];
}
