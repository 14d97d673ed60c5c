/**
 * Runtime cost of pgdr's own processes: start-up time and idle and peak RSS of the control
 * worker, a node agent, the API and the CLI, run from the sources with tsx (what dev runs) and
 * compiled (dist/, what an installed package runs), against `node -e 0` measured in the same run.
 * Builds dist/ first (npm run build). The processes use a config of their own (own task queues,
 * own API port) on the bench stack, so they never share work with another worker.
 *
 * RSS counts the whole process tree (tsx runs the program in a child node process): idle is
 * the tree's RSS PGDR_BENCH_IDLE_SECONDS (default 20) after start, peak the sum of each
 * process's high-water mark (VmHWM) at that time; for the CLI, each process's maxRSS at exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../scripts/stack/layout.js';
import { freePort, portOpen } from '../scripts/stack/procs.js';
import { runTool } from '../adapters/gateway.js';
import { median, benchStack } from './stack.js';
import type { BenchRow } from './backup.js';

const IDLE_SECONDS = Number(process.env.PGDR_BENCH_IDLE_SECONDS ?? 20);
const CLI_RUNS = Number(process.env.PGDR_BENCH_CLI_RUNS ?? 9);
const MB = 1024 * 1024;
const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');

type Flavour = 'tsx' | 'compiled';
const entry = (flavour: Flavour, app: 'cli' | 'worker' | 'api'): [string, string[]] =>
  flavour === 'tsx' ? [tsx, [join(repoRoot, app, 'main.ts')]] : [process.execPath, [join(repoRoot, 'dist', `${app}.js`)]];

/** kB fields of /proc/<pid>/status, for a process and every descendant. */
function treeMemory(pid: number): { rss: number; hwm: number } {
  let rss = 0;
  let hwm = 0;
  const visit = (p: number) => {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      hwm += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean)) visit(Number(c));
      }
    } catch {
      // The process ended between the listing and the read.
    }
  };
  visit(pid);
  return { rss, hwm };
}

interface DaemonFigures {
  startup: number;
  idle: number;
  peak: number;
}

/** Starts a daemon, waits until it is ready, lets it idle, measures, and stops it. */
async function measureDaemon(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: (log: string) => Promise<boolean>,
): Promise<DaemonFigures> {
  const t0 = performance.now();
  const child: ChildProcess = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const deadline = Date.now() + 180_000;
    while (!(await ready(log))) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`${cmd} ${args.join(' ')} did not get ready:\n${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const startup = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      samples.push(treeMemory(child.pid!).rss);
      await new Promise((r) => setTimeout(r, 1000));
    }
    return { startup, idle: median(samples), peak: treeMemory(child.pid!).hwm };
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    const killer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 45_000);
    await exited;
    clearTimeout(killer);
  }
}

/** Median wall time of a short command, and the sum of its processes' maxRSS (median over runs). */
async function measureCommand(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  scratch: string,
): Promise<{ time: number; rss: number }> {
  // Every node process of the command (tsx's too) appends its maxRSS at exit.
  const preload = join(scratch, 'maxrss.cjs');
  const out = join(scratch, 'maxrss.txt');
  writeFileSync(
    preload,
    `process.on('exit', () => require('fs').appendFileSync(${JSON.stringify(out)}, process.resourceUsage().maxRSS + '\\n'));\n`,
  );
  const times: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < CLI_RUNS; i++) {
    rmSync(out, { force: true });
    const t0 = performance.now();
    await runTool({ tool: cmd, args, env: { ...env, NODE_OPTIONS: `--require ${preload}` } });
    times.push((performance.now() - t0) / 1000);
    rss.push(
      readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .reduce((a, kb) => a + Number(kb) * 1024, 0),
    );
  }
  return { time: median(times), rss: median(rss) };
}

const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
const secs = (s: number) => `${s.toFixed(2)} s`;

export async function runtimeBench(): Promise<BenchRow[]> {
  const { layout } = await benchStack();
  console.log('bench runtime: npm run build');
  await runTool({ tool: tsx, args: [join(repoRoot, 'scripts', 'build.ts')], cwd: repoRoot });

  // A config of its own: own queues and API port, the bench stack's servers.
  const run = Date.now().toString(36);
  const scratch = join(layout.dir, 'bench-scratch', `runtime-${run}`);
  mkdirSync(scratch, { recursive: true });
  const raw = parse(readFileSync(layout.configFile, 'utf8'));
  raw.temporal.taskQueue = `pgdr-bench-${run}`;
  raw.api.port = await freePort();
  raw.clusters = { demo: raw.clusters.demo };
  for (const [n, node] of Object.entries(raw.clusters.demo.nodes)) (node as { agentQueue: string }).agentQueue = `pgdr-bench-${run}-${n}`;
  raw.clusters.demo.backup = { ...raw.clusters.demo.backup, schedules: {} };
  raw.clusters.demo.archive = { ...raw.clusters.demo.archive, checkCron: null };
  raw.clusters.demo.drill = { ...raw.clusters.demo.drill, cron: null };
  const configFile = join(scratch, 'pgdr.yaml');
  writeFileSync(configFile, stringify(raw), { mode: 0o600 });
  const caCert = join(layout.tls, 'ca.crt');
  const env = { PGDR_CONFIG: configFile, NODE_EXTRA_CA_CERTS: caCert };
  const firstNode = Object.keys(raw.clusters.demo.nodes)[0]!;
  const workerReady = async (log: string) => log.includes('pgdr worker polling');
  const apiReady = async () => portOpen(raw.api.port);

  const rows: BenchRow[] = [];
  const anchor = await measureCommand(process.execPath, ['-e', '0'], {}, scratch);
  rows.push({ metric: 'runtime: node -e 0 start-up (anchor)', value: `${secs(anchor.time)}, ${mb(anchor.rss)}` });
  const vsAnchor = (s: number) => `${secs(s)} (${(s / anchor.time).toFixed(1)}x node)`;

  for (const flavour of ['tsx', 'compiled'] as const) {
    console.log(`bench runtime: ${flavour}`);
    const [wcmd, wargs] = entry(flavour, 'worker');
    const control = await measureDaemon(wcmd, wargs, { ...env, PGDR_ROLE: 'control' }, workerReady);
    const agent = await measureDaemon(wcmd, wargs, { ...env, PGDR_ROLE: 'agent', PGDR_AGENT_NODES: `demo/${firstNode}` }, workerReady);
    const [acmd, aargs] = entry(flavour, 'api');
    const api = await measureDaemon(acmd, aargs, env, apiReady);
    const [ccmd, cargs] = entry(flavour, 'cli');
    const version = await measureCommand(ccmd, [...cargs, '--version'], env, scratch);
    rows.push(
      { metric: `runtime ${flavour}: control worker start-up`, value: vsAnchor(control.startup) },
      {
        metric: `runtime ${flavour}: control worker RSS idle / peak`,
        value: `${mb(control.idle)} / ${mb(control.peak)}`,
        target: '<= 150 MB idle',
      },
      { metric: `runtime ${flavour}: agent start-up`, value: vsAnchor(agent.startup) },
      { metric: `runtime ${flavour}: agent RSS idle / peak`, value: `${mb(agent.idle)} / ${mb(agent.peak)}` },
      { metric: `runtime ${flavour}: api start-up`, value: vsAnchor(api.startup) },
      { metric: `runtime ${flavour}: api RSS idle / peak`, value: `${mb(api.idle)} / ${mb(api.peak)}` },
      { metric: `runtime ${flavour}: pgdr --version`, value: `${vsAnchor(version.time)}, ${mb(version.rss)}`, target: '<= 0.2 s' },
    );
  }

  // pgdr status, the CLI's everyday call: API and workers (compiled) up, the CLI each way.
  console.log('bench runtime: pgdr status');
  const [wcmd, wargs] = entry('compiled', 'worker');
  const [acmd, aargs] = entry('compiled', 'api');
  const worker = spawn(wcmd, wargs, { env: { ...process.env, ...env }, stdio: 'ignore', detached: true });
  const apiProc = spawn(acmd, aargs, { env: { ...process.env, ...env }, stdio: 'ignore', detached: true });
  try {
    const deadline = Date.now() + 120_000;
    while (!(await apiReady())) {
      if (Date.now() > deadline) throw new Error('the compiled API did not open its port');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Warm: the first status waits for the workers to poll.
    await runTool({ tool: join(repoRoot, 'bin', 'pgdr'), args: ['status', 'demo'], env, timeoutMs: 120_000 });
    for (const flavour of ['tsx', 'compiled'] as const) {
      const [ccmd, cargs] = entry(flavour, 'cli');
      const status = await measureCommand(ccmd, [...cargs, 'status', 'demo'], env, scratch);
      rows.push({ metric: `runtime ${flavour}: pgdr status demo (round trip)`, value: `${vsAnchor(status.time)}, ${mb(status.rss)}` });
    }
  } finally {
    for (const p of [apiProc, worker]) process.kill(-p.pid!, 'SIGTERM');
  }
  rmSync(scratch, { recursive: true, force: true });
  return rows;
}
