/** Backup throughput and worker memory: orchestrated basebackup to S3 vs raw pg_basebackup to a file. */
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { repoRoot } from '../scripts/stack/layout.js';
import { psql } from '../scripts/stack/postgres.js';
import { parseConfig } from '../config/load.js';
import { runTool } from '../adapters/gateway.js';
import { backupInput } from '../control/inputs.js';
import { backup } from '../workflows/backup.js';
import { unlessRefused } from '../workflows/lock.js';

import { archiveSettled, ensureBenchDb, benchStack, median } from './stack.js';
import { backupStages } from './stages.js';

export interface BenchRow {
  metric: string;
  value: string;
  target?: string;
}

const MB = 1024 * 1024;
const tsxBin = join(repoRoot, 'node_modules', '.bin', 'tsx');

/** Resident set (VmRSS) of one process, in bytes. */
function residentRss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

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
  const stack = await benchStack();
  const { layout, plan, secrets } = stack;
  await ensureBenchDb(stack);
  const clusterBytes = Number(
    await psql(layout, plan, plan.primary.port, 'select sum(pg_database_size(datname)) from pg_database', secrets),
  );

  const runs = Number(process.env.PGDR_BENCH_RUNS ?? 3);

  // 2. Stage by stage, and the two anchors: the raw tools to a local file, and streaming into the
  //    same MinIO (mc pipe). The anchors run again in every round of the workflow below, so each
  //    ratio compares runs made minutes apart at most (this machine's disk varies more than that
  //    between blocks of runs).
  const { stages, anchors } = await backupStages({ layout, plan, secrets }, runs, clusterBytes);

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
  // The workers run compiled (dist/, what an installed package runs; built here first), or from
  // the sources with tsx (PGDR_BENCH_WORKERS=tsx, what dev runs: 60-80 MB more per process).
  const flavour = process.env.PGDR_BENCH_WORKERS === 'tsx' ? 'tsx' : 'compiled';
  if (flavour === 'compiled') await runTool({ tool: tsxBin, args: [join(repoRoot, 'scripts', 'build.ts')], cwd: repoRoot });
  // Compiled: through the package's launcher (bin/pgdr-worker runs dist/worker.js), as an installed package starts it.
  const [cmd, args] = flavour === 'tsx' ? [tsxBin, [join(repoRoot, 'worker/main.ts')]] : [join(repoRoot, 'bin', 'pgdr-worker'), []];
  // One agent per node, as on real hosts (pgdr-agent@<cluster>-<node>): the primary's streams the
  // backup and is the one measured (until 2026-12-02 one process served both nodes' agents).
  const spawnWorker = (role: string, instance?: string) =>
    execa(cmd, args, {
      env: { PGDR_CONFIG: benchConfig, PGDR_ROLE: role, ...(instance ? { PGDR_AGENT_INSTANCE: instance } : {}) },
      detached: true,
      reject: false,
      all: true,
    });
  const ready = (w: ReturnType<typeof spawnWorker>) =>
    new Promise<void>((resolve) => w.all!.on('data', (d: Buffer) => d.toString().includes('pgdr worker polling') && resolve()));
  const control = spawnWorker('control');
  const agent = spawnWorker('agent', `demo-${plan.primary.name}`);
  const others = plan.standbys.map((s) => spawnWorker('agent', `demo-${s.name}`));
  await Promise.all([ready(control), ready(agent), ...others.map(ready)]);
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection });
  await new Promise((r) => setTimeout(r, 1000));
  const idleAgent = peakRss(agent.pid!);
  const idleControl = peakRss(control.pid!);
  // The start-up peak (loading, and any archive backlog the archiver drained) is not the backup's:
  // the agent's high-water mark starts again from its resident set now (clear_refs 5, Linux).
  const agentBefore = residentRss(agent.pid!);
  writeFileSync(`/proc/${agent.pid!}/clear_refs`, '5');
  let peakAgent = 0;
  const sampler = setInterval(() => (peakAgent = Math.max(peakAgent, peakRss(agent.pid!))), 100);
  const wfTimes: number[] = [];
  const upTimes: number[] = [];
  const fileTimes: number[] = [];
  const s3Times: number[] = [];
  const tcpTimes: number[] = [];
  const settleTimes: number[] = [];
  const phases: Record<string, number[]> = {};
  let stored = 0;
  let rawBytes = 0;
  for (let i = 0; i < runs; i++) {
    // Anchors first in odd rounds, last in even ones: neither side always follows the other.
    // Each timed run, raw or pgdr's, starts once the WAL of the one before it is archived.
    const settled = async () => settleTimes.push((await archiveSettled(stack)) / 1000);
    const runAnchors = async () => {
      await settled();
      const f = await anchors.toFile();
      fileTimes.push(f.seconds);
      rawBytes = f.bytes;
      await settled();
      s3Times.push(await anchors.toS3());
      if (anchors.toS3OverTcp) {
        await settled();
        tcpTimes.push(await anchors.toS3OverTcp());
      }
    };
    if (i % 2 === 0) await runAnchors();
    await settled();
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
    // Where the workflow's own time goes, from its history: before the streaming activity is
    // scheduled (lock, probes), its dispatch to the agent, and after it (manifest, lock release).
    const first = events[0];
    const last = events.at(-1);
    for (const [phase, seconds] of Object.entries({
      'start -> streaming scheduled (cluster lock, probes)': ms(sched) - ms(first),
      'streaming scheduled -> started on the agent': ms(started) - ms(sched),
      'streaming completed -> run completed (manifest, lock release)': ms(last) - ms(completed),
      'client: start request and result, outside the history': wfTimes.at(-1)! * 1000 - (ms(last) - ms(first)),
    }))
      (phases[phase] ??= []).push(seconds / 1000);
    if (i % 2 === 1) await runAnchors();
  }
  clearInterval(sampler);
  peakAgent = Math.max(peakAgent, peakRss(agent.pid!));
  const peakControl = peakRss(control.pid!);
  for (const w of [control, agent, ...others]) process.kill(-w.pid!, 'SIGTERM');
  await Promise.all([control, agent, ...others]);
  await connection.close();
  const pgdrSeconds = median(wfTimes);
  const uploadSeconds = median(upTimes);
  const rawSeconds = median(fileTimes);
  const s3Seconds = median(s3Times);

  const mbps = (bytes: number, s: number) => (bytes / MB / s).toFixed(1);
  return [
    { metric: 'database size (all databases)', value: `${(clusterBytes / MB).toFixed(0)} MB` },
    { metric: `runs of each (median shown)`, value: String(runs) },
    { metric: 'raw pg_basebackup -Ft zstd to local file (anchor 1, between the workflow runs): seconds', value: rawSeconds.toFixed(2) },
    { metric: 'raw: throughput (database MB/s)', value: mbps(clusterBytes, rawSeconds) },
    { metric: 'raw pg_basebackup -Ft zstd | mc pipe to MinIO (anchor 2, between the workflow runs): seconds', value: s3Seconds.toFixed(2) },
    ...(tcpTimes.length
      ? [
          {
            metric: 'anchors 1 and 2 stream over the server socket, as pgdr does (socketDir); anchor 2 over TCP and TLS: seconds',
            value: median(tcpTimes).toFixed(2),
          },
          { metric: 'throughput ratio pgdr workflow / anchor 2 over TCP and TLS', value: (median(tcpTimes) / pgdrSeconds).toFixed(3) },
        ]
      : []),
    {
      metric: 'before each timed run: wait for the WAL of the one before it to be archived, + 0.3 s (median; max)',
      value: `${median(settleTimes).toFixed(2)}; ${Math.max(...settleTimes).toFixed(2)} s`,
    },
    { metric: 'pgdr backup workflow to S3 (no verify): seconds', value: pgdrSeconds.toFixed(2) },
    { metric: 'pgdr: throughput (database MB/s)', value: mbps(clusterBytes, pgdrSeconds) },
    { metric: 'throughput ratio pgdr / raw-to-file (whole workflow)', value: (rawSeconds / pgdrSeconds).toFixed(3), target: '>= 0.9' },
    { metric: 'throughput ratio pgdr workflow / raw-to-S3 (mc pipe)', value: (s3Seconds / pgdrSeconds).toFixed(3), target: '>= 0.97' },
    { metric: 'pgdr streaming activity alone: seconds', value: uploadSeconds.toFixed(2) },
    {
      metric: 'throughput ratio streaming activity / raw-to-file; / raw-to-S3',
      value: `${(rawSeconds / uploadSeconds).toFixed(3)}; ${(s3Seconds / uploadSeconds).toFixed(3)}`,
    },
    ...Object.entries(phases).map(([phase, xs]) => ({ metric: `workflow: ${phase}`, value: `${median(xs).toFixed(3)} s` })),
    ...stages.map((st) => ({
      metric: `stage: ${st.name}`,
      value: `${st.seconds.toFixed(2)} s, ${mbps(clusterBytes, st.seconds)} MB/s`,
    })),
    { metric: 'stored backup size', value: `${(stored / MB).toFixed(1)} MB` },
    { metric: 'stored size pgdr / raw (same compression)', value: (stored / rawBytes).toFixed(3) },
    { metric: 'workers run', value: flavour === 'tsx' ? 'from the sources with tsx' : 'compiled (dist/)' },
    {
      metric: "node agent (the primary's): peak RSS of its start-up (with any archive backlog); RSS before the backups",
      value: `${(idleAgent / MB).toFixed(0)} / ${(agentBefore / MB).toFixed(0)} MB`,
    },
    { metric: 'node agent peak RSS while it streams the backups', value: `${(peakAgent / MB).toFixed(0)} MB`, target: '<= 300 MB' },
    {
      metric: 'control worker RSS idle / peak (workflow bundle)',
      value: `${(idleControl / MB).toFixed(0)} / ${(peakControl / MB).toFixed(0)} MB`,
    },
  ];
}
