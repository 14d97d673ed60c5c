/**
 * Planned switchover under load (issue 7): the write pause clients see, pgdr against Patroni on
 * the same machine in the same run. Each round runs pgbench tpcb-like (scale 10, 8 clients)
 * for PGDR_BENCH_SWITCHOVER_SECONDS (default 20) and switches over at PGDR_BENCH_SWITCHOVER_AT
 * (default 8) seconds; rounds alternate direction (there, back, there, ...);
 * PGDR_BENCH_SWITCHOVER_ROUNDS (default 3) rounds per system, medians reported.
 *
 * - pgdr: a primary, one streaming standby and a PgBouncer that pgdr pauses and repoints;
 *   pgbench goes through PgBouncer; the switchover goes through the API and the workflow.
 * - Patroni: two members and etcd; pgbench goes straight to the leader (Patroni does not
 *   repoint PgBouncer), so its clients lose their connections when the leader is demoted.
 *
 * Both are measured by the same write probe: one client that INSERTs every 20 ms and, when its
 * connection fails, reconnects to whichever server takes writes (libpq's
 * target_session_attrs=read-write over the members for Patroni; PgBouncer for pgdr). The
 * write-unavailable window is the longest gap between two of its commits around the switchover.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { NativeConnection } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { parseConfig } from '../config/load.js';
import { archiveCommands } from '../config/archiveCommands.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { createWorkers } from '../worker/workers.js';
import { startArchivers } from '../worker/archivers.js';
import { buildServer } from '../api/server.js';
import type { SwitchoverReport } from '../domain/replication.js';
import type { StackLayout } from '../scripts/stack/layout.js';
import {
  ensureCluster,
  NO_ARCHIVE_COMMANDS,
  psql,
  slotFor,
  stopCluster,
  type PgClusterPlan,
  type PgSecrets,
} from '../scripts/stack/postgres.js';
import { startPgBouncer } from '../scripts/stack/pgbouncer.js';
import { pgbenchInit, pgbenchRun, type PgbenchResult } from '../scripts/stack/pgbench.js';
import { startPatroniCluster, type PatroniClusterHandle } from '../scripts/stack/patroni.js';
import { freePort, sleep, waitFor } from '../scripts/stack/procs.js';
import type { BenchRow } from './backup.js';
import { benchStack, median } from './stack.js';

const SCALE = 10;
const CLIENTS = 8;
const PROBE_INTERVAL_MS = 20;
const PROBE_TABLE = 'pgdr_probe';
/** A round is ready once the standby replays within this of the primary. */
const READY_LAG_BYTES = 1024 * 1024;

interface Load {
  rounds: number;
  seconds: number;
  at: number;
}

interface Target {
  host: string;
  port: number;
}

/** One round, as clients saw it. */
interface Seen {
  bench: PgbenchResult;
  /** Longest gap between two probe commits, from the last one before the request on. */
  unavailableMs: number;
  /** From the switchover request to the probe's first commit on the new primary. */
  firstWriteMs: number;
  probeErrors: number;
}

interface PgdrRound extends Seen {
  report: SwitchoverReport;
  /** POST to the workflow's result. */
  wallSeconds: number;
  /** The workflow's activities before PgBouncer's PAUSE, while it holds clients, and after RESUME. */
  steps: { before: string; paused: string; after: string };
}

interface PatroniRound extends Seen {
  /** How long POST /switchover took to answer. */
  postMs: number;
  /** From POST until the old leader streams from the new one again. */
  rejoinedSeconds: number;
}

export async function switchoverBench(): Promise<BenchRow[]> {
  const { layout, secrets } = await benchStack();
  const load: Load = {
    rounds: Number(process.env.PGDR_BENCH_SWITCHOVER_ROUNDS ?? 3),
    seconds: Number(process.env.PGDR_BENCH_SWITCHOVER_SECONDS ?? 20),
    at: Number(process.env.PGDR_BENCH_SWITCHOVER_AT ?? 8),
  };
  if (!(load.rounds >= 1 && load.seconds > load.at && load.at >= 1)) {
    throw new Error(
      `PGDR_BENCH_SWITCHOVER_ROUNDS=${load.rounds}, _SECONDS=${load.seconds}, _AT=${load.at}: expected at least 1 round and 1 <= AT < SECONDS`,
    );
  }
  const viaPgdr = await pgdrRounds(layout, secrets, load);
  const viaPatroni = await patroniRounds(layout, secrets, load);
  return rows(load, viaPgdr, viaPatroni);
}

// ---------------------------------------------------------------------------------------------
// pgdr

async function pgdrRounds(layout: StackLayout, secrets: PgSecrets, load: Load): Promise<PgdrRound[]> {
  // 1. Ports, a plan and a PgBouncer in front of the primary-to-be.
  const ports = { primary: await freePort(), replica: await freePort() };
  const name = `swb${ports.primary}`;
  const base = join(layout.dir, 'pg', name);
  const planOf = (wal: PgClusterPlan['archiveCommands']): PgClusterPlan => ({
    cluster: name,
    primary: { name: 'primary', port: ports.primary, dataDir: join(base, 'primary') },
    standbys: [{ name: 'replica', port: ports.replica, dataDir: join(base, 'replica') }],
    socketDir: join(layout.run, 'pg'),
    logDir: join(layout.logs, 'postgres'),
    passfile: join(base, 'pgpass'),
    archiveCommands: wal,
  });
  const p0 = planOf(NO_ARCHIVE_COMMANDS);
  const bouncer = await startPgBouncer(layout, { name, target: { host: '127.0.0.1', port: ports.primary }, secrets });
  const configDir = mkdtempSync(join(layout.dir, 'swbench-'));
  let plan = p0;
  const stops: (() => Promise<unknown>)[] = [];
  try {
    // 2. The cluster's config, as test/helpers/replication.ts writes it: the bench stack's demo
    // cluster with these nodes, its own S3 prefix and task queues, no schedules, no backup after.
    const raw = parse(readFileSync(layout.configFile, 'utf8'));
    const demo = raw.clusters.demo;
    raw.clusters = {
      [name]: {
        ...demo,
        backup: { ...demo.backup, schedules: {} },
        archive: { ...demo.archive, checkCron: null },
        drill: { ...demo.drill, cron: null },
        restore: { ...demo.restore, dir: join(base, 'restores') },
        nodes: Object.fromEntries(
          [p0.primary, ...p0.standbys].map((n) => [
            n.name,
            {
              host: '127.0.0.1',
              port: n.port,
              dataDir: n.dataDir,
              binDir: layout.pgBin,
              osUser: layout.pgUser,
              agentQueue: `pgdr-${name}-${n.name}`,
              slot: slotFor(p0, n),
            },
          ]),
        ),
        replication: { passfile: p0.passfile, rebuildMaxLagBytes: 1024 * 1024, catchUpTimeoutMinutes: 5 },
        switchover: { confirmTimeoutSeconds: 20, pauseTimeoutSeconds: 10, backupAfter: false },
        pgbouncer: {
          host: bouncer.host,
          port: bouncer.port,
          adminUser: bouncer.adminUser,
          node: 'primary',
          databasesFile: bouncer.databasesFile,
        },
      },
    };
    raw.storage.prefix = `bench-switchover/${name}-${Date.now().toString(36)}`;
    raw.temporal.taskQueue = `pgdr-${name}`;
    // Postgres (another OS user) reads it when archive_command runs `pgdr wal push`; it holds no secret.
    chmodSync(configDir, 0o755);
    const configFile = join(configDir, 'pgdr.yaml');
    writeFileSync(configFile, stringify(raw), { mode: 0o644 });
    const config = parseConfig(raw, configFile);

    // 3. Postgres: primary and standby archiving through pgdr; pgbench tables and the probe's.
    plan = planOf(archiveCommands(config, name));
    stops.push(() => stopCluster(layout, plan));
    console.log(
      `bench: switchover: pgdr cluster ${name} (primary ${ports.primary}, replica ${ports.replica}, pgbouncer ${bouncer.port}), pgbench -i -s ${SCALE}`,
    );
    await ensureCluster(layout, plan, secrets);
    const password = secrets.superuserPassword;
    await pgbenchInit(layout, { host: '127.0.0.1', port: ports.primary, database: 'postgres', password, scale: SCALE });
    await psql(
      layout,
      plan,
      ports.primary,
      `create table ${PROBE_TABLE} (id bigserial primary key, at timestamptz not null default clock_timestamp())`,
      secrets,
    );

    // 4. Workers (control and both agents) and the API, in this process.
    const connection = await NativeConnection.connect({ address: config.temporal.address });
    const workers = await createWorkers({
      config,
      connection,
      plan: { control: true, agents: ['primary', 'replica'].map((node) => ({ cluster: name, node })) },
      shutdownGraceTime: '5 seconds',
    });
    // Each agent's archiver, as a deployed agent runs it: archive_command asks it first.
    const archivers = startArchivers(
      config,
      ['primary', 'replica'].map((node) => ({ cluster: name, node })),
    );
    const running = Promise.all(workers.map((w) => w.run()));
    stops.push(async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
      await archivers.stop();
      await connection.close();
    });
    const clientConn = await Connection.connect({ address: config.temporal.address });
    stops.push(() => clientConn.close());
    const temporal = new Client({ connection: clientConn, namespace: config.temporal.namespace });
    const api = buildServer({ config, temporal, s3: createS3Client(config.storage, createSecretReader()), token: 'bench' });
    stops.push(() => api.close());

    // 5. The rounds: there and back, under pgbench through PgBouncer.
    const out: PgdrRound[] = [];
    const bouncerTarget = { host: bouncer.host, port: bouncer.port };
    for (let i = 0; i < load.rounds; i++) {
      const [from, to] = i % 2 === 0 ? (['primary', 'replica'] as const) : (['replica', 'primary'] as const);
      await waitFor(
        `${to} streaming from ${from} within ${READY_LAG_BYTES} bytes`,
        () => streamsClose(layout, plan, ports[from], secrets),
        120_000,
      );
      let report: SwitchoverReport | undefined;
      let wallSeconds = 0;
      let workflowId = '';
      const seen = await underLoad(layout, load, password, bouncerTarget, [bouncerTarget], ports[to], async () => {
        const t0 = Date.now();
        const res = await api.inject({
          method: 'POST',
          url: `/api/v1/clusters/${name}/switchover`,
          headers: { authorization: 'Bearer bench' },
          payload: { candidate: to, backupAfter: false },
        });
        if (res.statusCode !== 202) throw new Error(`switchover to ${to} refused: ${res.statusCode} ${res.body}`);
        workflowId = JSON.parse(res.body).workflowId;
        report = (await temporal.workflow.getHandle(workflowId).result()) as SwitchoverReport;
        wallSeconds = (Date.now() - t0) / 1000;
        return t0;
      });
      const r = report!;
      const steps = await activitySteps(temporal, workflowId);
      if (r.warnings.length) console.log(`bench: switchover round ${i + 1} warnings: ${r.warnings.join('; ')}`);
      console.log(
        `bench: pgdr round ${i + 1} ${from} -> ${to}: pause ${r.pauseSeconds} s, probe gap ${seen.unavailableMs.toFixed(0)} ms, max latency ${seen.bench.maxLatencyMs.toFixed(0)} ms, failed ${seen.bench.failed}, phases ${JSON.stringify(r.seconds)}`,
      );
      console.log(
        `bench:   activities before PAUSE: ${steps.before}\nbench:   paused: ${steps.paused}\nbench:   after RESUME: ${steps.after}`,
      );
      out.push({ ...seen, report: r, wallSeconds, steps });
    }
    return out;
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e: Error) => console.error(`bench: switchover cleanup: ${e.message}`));
    await bouncer.stop().catch((e: Error) => console.error(`bench: switchover cleanup: ${e.message}`));
    // Its directory holds a userlist with passwords; the data directories are throwaway.
    rmSync(join(layout.dir, 'pgbouncer', name), { recursive: true, force: true });
    rmSync(base, { recursive: true, force: true });
    rmSync(configDir, { recursive: true, force: true });
  }
}

/**
 * The workflow's activities from its history, scheduled to closed (so a step's time includes
 * its wait for a worker), grouped: before PgBouncer's PAUSE, from PAUSE to the repoint and
 * RESUME, and after. Each group ends with its sum and the wall time it spans; the difference is
 * workflow-task round trips between activities.
 */
async function activitySteps(temporal: Client, workflowId: string): Promise<PgdrRound['steps']> {
  const events = (await temporal.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(t?.seconds ?? 0) * 1000 + Number(t?.nanos ?? 0) / 1e6;
  const scheduled = new Map<string, { name: string; at: number }>();
  const acts: { name: string; at: number; end: number }[] = [];
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), { name: s.activityType?.name ?? '?', at: ms(e.eventTime) });
    const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    const from = closed && scheduled.get(String(closed.scheduledEventId));
    if (from) acts.push({ ...from, end: ms(e.eventTime) });
  }
  acts.sort((a, b) => a.at - b.at);
  const pause = acts.findIndex((a) => a.name === 'pgbouncerAdmin');
  const resume = acts.findIndex((a) => a.name === 'pointPgBouncer');
  const show = (xs: typeof acts) => {
    if (!xs.length) return '-';
    const sum = xs.reduce((t, a) => t + a.end - a.at, 0);
    const span = xs[xs.length - 1]!.end - xs[0]!.at;
    return `${xs.map((a) => `${a.name} ${((a.end - a.at) / 1000).toFixed(2)}`).join(', ')} (sum ${(sum / 1000).toFixed(2)} of ${(span / 1000).toFixed(2)} s)`;
  };
  if (pause < 0 || resume < pause) return { before: show(acts), paused: '-', after: '-' };
  return { before: show(acts.slice(0, pause)), paused: show(acts.slice(pause, resume + 1)), after: show(acts.slice(resume + 1)) };
}

/** Whether exactly one standby streams from the server on `port` with replay lag within READY_LAG_BYTES. */
async function streamsClose(layout: StackLayout, plan: PgClusterPlan, port: number, secrets: PgSecrets): Promise<boolean> {
  const n = await psql(
    layout,
    plan,
    port,
    `select count(*) from pg_stat_replication where state = 'streaming' and pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) <= ${READY_LAG_BYTES}`,
    secrets,
  );
  return n.trim() === '1';
}

// ---------------------------------------------------------------------------------------------
// Patroni

interface PatroniMember {
  name: string;
  role: string;
  state: string;
  lag?: number | string;
}

async function patroniRounds(layout: StackLayout, secrets: PgSecrets, load: Load): Promise<PatroniRound[]> {
  const scope = `swbench${Date.now().toString(36).slice(-5)}`;
  console.log(`bench: switchover: patroni cluster ${scope} (2 members, etcd), pgbench -i -s ${SCALE}`);
  const cluster = await startPatroniCluster(layout, { scope, secrets });
  try {
    const password = secrets.superuserPassword;
    const nodes = cluster.nodes;
    const first = (await cluster.leader()) ?? 'pg1';
    await pgbenchInit(layout, { host: '127.0.0.1', port: nodes[first]!.port, database: 'postgres', password, scale: SCALE });
    await sqlOn(
      nodes[first]!,
      password,
      `create table ${PROBE_TABLE} (id bigserial primary key, at timestamptz not null default clock_timestamp())`,
    );
    const members: Target[] = Object.values(nodes).map((n) => ({ host: n.host, port: n.port }));
    const auth = `Basic ${Buffer.from(`${cluster.restAuth.username}:${cluster.restAuth.password}`).toString('base64')}`;

    const out: PatroniRound[] = [];
    for (let i = 0; i < load.rounds; i++) {
      const leader = await patroniReady(cluster, null);
      const candidate = Object.keys(nodes).find((n) => n !== leader)!;
      let postMs = 0;
      let t0 = 0;
      const seen = await underLoad(
        layout,
        load,
        password,
        { host: '127.0.0.1', port: nodes[leader]!.port },
        members,
        nodes[candidate]!.port,
        async () => {
          t0 = Date.now();
          const res = await fetch(`${nodes[leader]!.patroniUrl}/switchover`, {
            method: 'POST',
            headers: { authorization: auth, 'content-type': 'application/json' },
            body: JSON.stringify({ leader, candidate }),
            signal: AbortSignal.timeout(120_000),
          });
          const body = await res.text();
          postMs = Date.now() - t0;
          if (res.status !== 200) throw new Error(`patroni switchover ${leader} -> ${candidate} answered ${res.status}: ${body.trim()}`);
          return t0;
        },
      );
      await patroniReady(cluster, candidate);
      const rejoinedSeconds = (Date.now() - t0) / 1000;
      console.log(
        `bench: patroni round ${i + 1} ${leader} -> ${candidate}: POST ${postMs} ms, probe gap ${seen.unavailableMs.toFixed(0)} ms, failed ${seen.bench.failed}, aborted clients ${seen.bench.abortedClients}, rejoined after ${rejoinedSeconds.toFixed(1)} s`,
      );
      out.push({ ...seen, postMs, rejoinedSeconds });
    }
    return out;
  } finally {
    await cluster.stop().catch((e: Error) => console.error(`bench: switchover cleanup: ${e.message}`));
  }
}

/**
 * Waits until Patroni shows a leader (`leader`, when given) and every other member streaming
 * within READY_LAG_BYTES; returns the leader's name.
 */
async function patroniReady(cluster: PatroniClusterHandle, leader: string | null): Promise<string> {
  let found = '';
  await waitFor(
    `patroni ${cluster.scope}: ${leader ?? 'a leader'} leading, the other member streaming`,
    async () => {
      const res = await fetch(`${Object.values(cluster.nodes)[0]!.patroniUrl}/cluster`, { signal: AbortSignal.timeout(2000) });
      const members = ((await res.json()) as { members?: PatroniMember[] }).members ?? [];
      const lead = members.find((m) => m.role === 'leader' && m.state === 'running');
      if (!lead || (leader && lead.name !== leader)) return false;
      found = lead.name;
      const others = members.filter((m) => m !== lead);
      return (
        others.length === Object.keys(cluster.nodes).length - 1 &&
        others.every((m) => (m.state === 'running' || m.state === 'streaming') && typeof m.lag === 'number' && m.lag <= READY_LAG_BYTES)
      );
    },
    120_000,
  );
  return found;
}

async function sqlOn(t: Target, password: string, text: string): Promise<void> {
  const c = new pg.Client({ host: t.host, port: t.port, user: 'postgres', password, database: 'postgres' });
  c.on('error', () => undefined); // a server switched over or stopped must not crash the process
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------
// One round under load, and the probe

/**
 * pgbench against `benchTarget` and the probe against `probeTargets`; `switchover` runs at
 * load.at seconds and returns when it asked for the switchover. Ends once pgbench has ended and
 * the probe has written to the new primary (port `newPort`).
 */
async function underLoad(
  layout: StackLayout,
  load: Load,
  password: string,
  benchTarget: Target,
  probeTargets: Target[],
  newPort: number,
  switchover: () => Promise<number>,
): Promise<Seen> {
  const probe = startProbe(probeTargets, password);
  const bench = pgbenchRun(layout, { ...benchTarget, database: 'postgres', password, clients: CLIENTS, seconds: load.seconds });
  try {
    await sleep(load.at * 1000);
    const t0 = await switchover();
    await waitFor(
      `the probe's first write on port ${newPort}`,
      async () => probe.commits.some((c) => c.at > t0 && c.port === newPort),
      60_000,
    );
    const result = await bench.done;
    await probe.stop();
    const before = probe.commits.filter((c) => c.at <= t0).pop();
    const after = probe.commits.filter((c) => c.at > t0);
    let gap = 0;
    let prev = before?.at ?? t0;
    for (const c of after) {
      gap = Math.max(gap, c.at - prev);
      prev = c.at;
    }
    return { bench: result, unavailableMs: gap, firstWriteMs: after.find((c) => c.port === newPort)!.at - t0, probeErrors: probe.errors() };
  } catch (err) {
    bench.stop();
    await bench.done.catch(() => undefined);
    throw err;
  } finally {
    await probe.stop();
  }
}

interface Probe {
  /** Commit acknowledgements, in order: when, and which server. */
  commits: { at: number; port: number }[];
  /** Failed inserts and failed connection attempts. */
  errors(): number;
  stop(): Promise<void>;
}

/**
 * INSERTs a row every PROBE_INTERVAL_MS on one connection; when it fails, connects again to the
 * first target that accepts a connection and is not in recovery (as libpq's
 * target_session_attrs=read-write does).
 */
function startProbe(targets: Target[], password: string): Probe {
  const commits: Probe['commits'] = [];
  let errors = 0;
  let stopped = false;
  let client: pg.Client | null = null;
  const connect = async (): Promise<pg.Client | null> => {
    for (const t of targets) {
      // query_timeout outlasts PgBouncer's PAUSE (pauseTimeoutSeconds): a held query is waiting, not failing.
      const c = new pg.Client({
        host: t.host,
        port: t.port,
        user: 'postgres',
        password,
        database: 'postgres',
        connectionTimeoutMillis: 1000,
        query_timeout: 30_000,
      });
      // A server that goes away while the client idles emits 'error'; the next query fails anyway.
      c.on('error', () => undefined);
      try {
        await c.connect();
        if ((await c.query('select pg_is_in_recovery() as r')).rows[0].r === false) return c;
      } catch {
        errors++;
      }
      await c.end().catch(() => undefined);
    }
    return null;
  };
  const loop = (async () => {
    while (!stopped) {
      try {
        client ??= await connect();
        if (client) {
          const r = await client.query(`insert into ${PROBE_TABLE} default values returning inet_server_port() as port`);
          commits.push({ at: Date.now(), port: Number(r.rows[0].port) });
        }
      } catch {
        errors++;
        const dead = client;
        client = null;
        await dead?.end().catch(() => undefined);
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    commits,
    errors: () => errors,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The table

function rows(load: Load, viaPgdr: PgdrRound[], viaPatroni: PatroniRound[]): BenchRow[] {
  /** "median (round 1/round 2/...)". */
  const show = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} (${xs.map((x) => x.toFixed(digits)).join('/')})`;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const pgdrPause = viaPgdr.map((r) => r.bench.maxLatencyMs);
  const pgdrGap = viaPgdr.map((r) => r.unavailableMs);
  const patroniGap = viaPatroni.map((r) => r.unavailableMs);
  const totals = viaPgdr.map((r) => r.report.seconds.total);
  const med = viaPgdr[totals.indexOf(median(totals))]!;
  const ph = med.report.seconds;
  const pgdrFirst = viaPgdr.map((r) => r.firstWriteMs);
  const patroniFirst = viaPatroni.map((r) => r.firstWriteMs);
  return [
    {
      metric: `switchover: ${load.rounds} rounds each, pgbench tpcb-like -s ${SCALE} -c ${CLIENTS} for ${load.seconds} s, switchover at ${load.at} s; median (per round)`,
      value: '',
    },
    { metric: 'switchover write pause (pgdr, PgBouncer): max latency, ms', value: show(pgdrPause), target: '<= 1000' },
    { metric: '  longest commit gap (pgdr, PgBouncer, all clients), ms', value: show(viaPgdr.map((r) => r.bench.longestGapMs)) },
    { metric: 'failed tx through PgBouncer (pgdr), all rounds', value: String(sum(viaPgdr.map((r) => r.bench.failed))), target: '0' },
    { metric: '  aborted pgbench clients (pgdr), all rounds', value: String(sum(viaPgdr.map((r) => r.bench.abortedClients))), target: '0' },
    { metric: '  pgbench tps (pgdr, PgBouncer)', value: show(viaPgdr.map((r) => r.bench.tps)) },
    {
      metric: '  pgdr report pauseSeconds (PgBouncer PAUSE to RESUME), s',
      value: show(
        viaPgdr.map((r) => r.report.pauseSeconds ?? NaN),
        2,
      ),
    },
    { metric: '  pgdr switchover total (workflow), s', value: show(totals, 1) },
    {
      metric: `    phases of the median: preconditions ${ph.preconditions}, fence ${ph.fence}, promote ${ph.promote}, rejoin ${ph.rejoin}`,
      value: '',
    },
    { metric: `    its activities before PAUSE: ${med.steps.before}`, value: '' },
    { metric: `    while PgBouncer held clients: ${med.steps.paused}`, value: '' },
    { metric: `    after RESUME: ${med.steps.after}`, value: '' },
    {
      metric: '  pgdr POST to report (API pre-flight + workflow), s',
      value: show(
        viaPgdr.map((r) => r.wallSeconds),
        1,
      ),
    },
    { metric: 'switchover write-unavailable (pgdr, probe, PgBouncer), ms', value: show(pgdrGap) },
    { metric: '  POST to first write on the new primary (pgdr, probe), ms', value: show(pgdrFirst) },
    { metric: 'Patroni (no PgBouncer: it does not repoint one; pgbench and the probe connect to the leader directly)', value: '' },
    { metric: 'Patroni switchover write-unavailable (probe), ms', value: show(patroniGap) },
    { metric: '  POST to first write on the new leader (Patroni), ms', value: show(patroniFirst) },
    { metric: '  POST /switchover answered after (Patroni), ms', value: show(viaPatroni.map((r) => r.postMs)) },
    { metric: '  failed tx (Patroni, pgbench to the leader), all rounds', value: String(sum(viaPatroni.map((r) => r.bench.failed))) },
    {
      metric: `  aborted pgbench clients (Patroni), all rounds, ${CLIENTS} each`,
      value: String(sum(viaPatroni.map((r) => r.bench.abortedClients))),
    },
    {
      metric: '  old leader streaming again after POST (Patroni), s',
      value: show(
        viaPatroni.map((r) => r.rejoinedSeconds),
        1,
      ),
    },
    { metric: 'write-unavailable ratio pgdr / Patroni (probe)', value: (median(pgdrGap) / median(patroniGap)).toFixed(2) },
    { metric: 'POST-to-first-write ratio pgdr / Patroni (probe)', value: (median(pgdrFirst) / median(patroniFirst)).toFixed(2) },
  ];
}
