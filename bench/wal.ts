/**
 * WAL archiving, on the same real segments laid out as Postgres leaves them (pg_wal/<name> and
 * archive_status/<name>.ready), archive_command run one at a time in order, the way Postgres's
 * archiver runs it, with .ready renamed .done after each success. Two patterns, each tool warmed
 * by one segment first (an agent and pgBackRest's async process both live long in production):
 *   - latency: one segment becomes .ready, archive_command runs at once, then a pause (the
 *     steady state: each segment is archived as it closes);
 *   - backlog: every segment .ready at once (the sustained rate).
 * Tools: archive_command as pgdr sets it (the thin client asking the node agent's archiver,
 * which pushes ahead on its pusher threads), the same client with no agent (its fallback, a
 * direct `pgdr wal push`), and `pgbackrest archive-push` with archive-async=y and process-max=4.
 * Then archive lag under a pgbench write load, stepping clients up (PGDR_BENCH_WAL_SECONDS in
 * all per tool, default 240), with pgdr's archive_command and then pgBackRest's.
 */
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../scripts/stack/layout.js';
import { psql } from '../scripts/stack/postgres.js';
import { asUser, runTool, spawnTool } from '../adapters/gateway.js';
import { configSource, parseConfig } from '../config/load.js';
import { archiverStateKey } from '../domain/walAgent.js';
import { archiveCommands } from '../config/archiveCommands.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { enableArchivingOnNode } from '../activities/steps/archiving.js';
import { segmentNumber, segmentOfLsn } from '../domain/wal.js';
import type { BenchRow } from './backup.js';
import { benchStack, closedSegments } from './stack.js';

const SEGMENTS = Number(process.env.PGDR_BENCH_WAL_SEGMENTS ?? 20);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

type Stack = Awaited<ReturnType<typeof benchStack>>;

/** A data directory's WAL as Postgres leaves it for the archiver: the segments, each .ready. */
function fakeDataDir(dir: string, walDir: string, names: string[], user: ReturnType<typeof asUser>, ready = true): string {
  const status = join(dir, 'pg_wal', 'archive_status');
  mkdirSync(status, { recursive: true, mode: 0o755 });
  mkdirSync(join(dir, 'global'), { recursive: true, mode: 0o755 });
  // pgBackRest reads the control file of pg1-path; pgdr does not.
  copyFileSync(join(walDir, '..', 'global', 'pg_control'), join(dir, 'global', 'pg_control'));
  for (const n of names) {
    copyFileSync(join(walDir, n), join(dir, 'pg_wal', n));
    if (ready) writeFileSync(join(status, `${n}.ready`), '');
  }
  if (user) for (const p of [dir, join(dir, 'pg_wal'), status, join(dir, 'global')]) chownSync(p, user.uid, user.gid);
  if (user) for (const n of names) chownSync(join(dir, 'pg_wal', n), user.uid, user.gid);
  if (user) chownSync(join(dir, 'global', 'pg_control'), user.uid, user.gid);
  chmodSync(dir, 0o700);
  return dir;
}

/**
 * The bench's scratch directory, once pgBackRest's asynchronous processes (which outlive the
 * archive-push that started them) have finished writing their spool and logs there.
 */
async function removeScratch(scratch: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const running = await runTool({ tool: 'pgrep', args: ['-f', scratch] }).then(
      () => true,
      () => false,
    );
    if (!running) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  try {
    rmSync(scratch, { recursive: true, force: true, maxRetries: 10, retryDelay: 500 });
  } catch (err) {
    console.error(`bench: could not remove ${scratch}: ${(err as Error).message}`);
  }
}

type Command = (name: string) => { tool: string; args: string[]; env?: Record<string, string> };

/**
 * Runs one archive_command per segment, in order, as Postgres's archiver does; seconds each and
 * in all. `spacedMs`: each segment is made .ready just before its call, with that pause after
 * (the latency pattern); otherwise all are .ready already (the backlog pattern).
 */
async function archiveInOrder(dataDir: string, names: string[], command: Command, osUser: string, spacedMs?: number) {
  const times: number[] = [];
  const status = join(dataDir, 'pg_wal', 'archive_status');
  const t0 = performance.now();
  for (const n of names) {
    if (spacedMs !== undefined) writeFileSync(join(status, `${n}.ready`), '');
    const t = performance.now();
    const c = command(n);
    await runTool({ tool: c.tool, args: c.args, osUser, cwd: dataDir, ...(c.env ? { env: c.env } : {}) });
    times.push((performance.now() - t) / 1000);
    renameSync(join(status, `${n}.ready`), join(status, `${n}.done`));
    if (spacedMs) await new Promise((r) => setTimeout(r, spacedMs));
  }
  return { times, total: (performance.now() - t0) / 1000 };
}

/**
 * The warm-up segment first (not counted), then the rest as archiveInOrder runs them. The data
 * directory holds no .ready file before: in the backlog pattern the others become .ready only
 * after the warm-up, so no archiver pushes any of them ahead while nothing is timed.
 */
async function warmThenInOrder(dataDir: string, names: string[], command: Command, osUser: string, spacedMs?: number) {
  await archiveInOrder(dataDir, names.slice(0, 1), command, osUser, 0);
  if (spacedMs === undefined) for (const n of names.slice(1)) writeFileSync(join(dataDir, 'pg_wal', 'archive_status', `${n}.ready`), '');
  return archiveInOrder(dataDir, names.slice(1), command, osUser, spacedMs);
}

/** A bench config over the stack's: its own prefix, the demo cluster's node at `dataDir`, the agent's state in `stateDir`. */
function benchConfig(layout: Stack['layout'], scratch: string, name: string, dataDir: string, stateDir: string) {
  const raw = parse(readFileSync(layout.configFile, 'utf8'));
  raw.storage.prefix = `bench-wal/${name}`;
  raw.clusters.demo.nodes = { primary: { ...raw.clusters.demo.nodes.primary, dataDir } };
  raw.clusters.demo.archive = { ...raw.clusters.demo.archive, agent: { ...raw.clusters.demo.archive?.agent, stateDir } };
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, stringify(raw), { mode: 0o644 });
  return parseConfig(raw, file);
}

/**
 * The node agent as production runs it: a pgdr-worker process of its own (the package's launcher,
 * --role agent, over dist/, built first) serving the config's one node, its archiver included.
 * Resolves once the archiver beats.
 */
let built: Promise<unknown> | undefined;
async function agentProcess(config: ReturnType<typeof parseConfig>) {
  await (built ??= runTool({
    tool: join(repoRoot, 'node_modules/.bin/tsx'),
    args: [join(repoRoot, 'scripts', 'build.ts')],
    cwd: repoRoot,
  }));
  const proc = execa(join(repoRoot, 'bin', 'pgdr-worker'), ['--role', 'agent'], {
    env: { PGDR_CONFIG: configSource(config)! },
    detached: true,
    reject: false,
    all: true,
  });
  const node = config.clusters.demo!.nodes.primary!;
  const dir = join(config.clusters.demo!.archive.agent.stateDir, 'demo', archiverStateKey(realpathSync(node.dataDir)));
  let out = '';
  proc.all!.on('data', (d: Buffer) => (out += d.toString()));
  // Its own "serving" line, not a heartbeat file an earlier run may have left.
  const serving = `serving archive_command requests in ${dir} `;
  for (let i = 0; !out.includes(serving); i++) {
    if (i > 1200 || proc.exitCode !== null) throw new Error(`the agent did not start serving in ${dir}: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    dir,
    /** Where it pushes: "on 2 pusher threads", or "on the event loop" (no compiled thread code). */
    where: /uploads at once (on [^)]*)\)/.exec(out.slice(out.indexOf(serving)))?.[1] ?? 'unknown',
    /** Segments the agent marked durable. */
    marked: (names: string[]) => names.filter((n) => existsSync(join(dir, 'durable', n))).length,
    async stop() {
      if (proc.pid && proc.exitCode === null) process.kill(-proc.pid, 'SIGTERM');
      await proc;
    },
  };
}

/** The thin client's argv for a config (archive_command as pgdr sets it, %p filled in). */
function thinClient(config: ReturnType<typeof parseConfig>, name: string): { tool: string; args: string[] } {
  const words = archiveCommands(config, 'demo').archiveCommand.replace('%p', `pg_wal/${name}`).split(' ');
  return { tool: words[0]!, args: words.slice(1) };
}

const SPACED_MS = 200;

export async function walBench(): Promise<BenchRow[]> {
  const stack = await benchStack();
  const { layout, plan, secrets } = stack;
  const sql = (text: string) => psql(layout, plan, plan.primary.port, text, secrets);
  const run = Date.now().toString(36);
  const user = asUser(layout.pgUser);

  // 1. Real segments (one more for the warm-up): write some WAL, then copy closed segments out of pg_wal.
  const walDir = join(plan.primary.dataDir, 'pg_wal');
  const names = await closedSegments(sql, plan.primary.dataDir, SEGMENTS + 1);
  const counted = names.slice(1);
  const scratch = join(layout.dir, 'bench-scratch', `wal-${run}`);
  mkdirSync(scratch, { recursive: true, mode: 0o755 });
  chmodSync(scratch, 0o755);
  if (user) chownSync(scratch, user.uid, user.gid);

  // Every copy first, then sync: no phase pays for another's writeback (MinIO fsyncs each object).
  const data = (name: string, ready: boolean) => fakeDataDir(join(scratch, name), walDir, names, user, ready);
  const dirs = {
    agentLatency: data('agent-latency', false),
    agentBacklog: data('agent-backlog', false),
    alone: data('alone', true),
    direct: data('direct', false),
    pbLatency: data('pgbackrest-latency', false),
    pbBacklog: data('pgbackrest-backlog', false),
  };
  await runTool({ tool: 'sync', args: [] });

  // 2. archive_command as pgdr sets it, with the agent's archiver running: latency, then backlog.
  const withAgent = async (name: string, dataDir: string, spacedMs?: number) => {
    const config = benchConfig(layout, scratch, `${run}-${name}`, dataDir, join(scratch, `state-${name}`));
    const archiver = await agentProcess(config);
    try {
      const r = await warmThenInOrder(dataDir, names, (n) => thinClient(config, n), layout.pgUser, spacedMs);
      return { ...r, marked: archiver.marked(counted), where: archiver.where };
    } finally {
      await archiver.stop();
    }
  };
  const agentLatency = await withAgent('agent-latency', dirs.agentLatency, SPACED_MS);
  const agentBacklog = await withAgent('agent-backlog', dirs.agentBacklog);

  // 2b. The agent alone: every segment .ready, one request, until all are durable (no client running).
  const aloneConfig = benchConfig(layout, scratch, `${run}-alone`, dirs.alone, join(scratch, 'state-alone'));
  const alone = await agentProcess(aloneConfig);
  const aloneStart = performance.now();
  writeFileSync(join(alone.dir, 'want', names[0]!), '');
  while (alone.marked(names) < names.length) await new Promise((r) => setTimeout(r, 5));
  const aloneRate = names.length / ((performance.now() - aloneStart) / 1000);
  await alone.stop();

  // 3. The same thin client with no agent: its fallback, a direct pgdr wal push.
  const directConfig = benchConfig(layout, scratch, `${run}-direct`, dirs.direct, join(scratch, 'state-none'));
  const direct = await warmThenInOrder(dirs.direct, names, (n) => thinClient(directConfig, n), layout.pgUser);

  // 4. pgbackrest archive-push, asynchronous with 4 processes, repo in the same bucket over TLS, zstd level 3 like pgdr.
  const withPgbackrest = async (name: string, dataDir: string, spacedMs?: number) => {
    const env = pgbackrestEnv(stack, join(scratch, name), `${run}/${name}`, dataDir, user);
    await runTool({
      tool: 'pgbackrest',
      args: ['--no-online', 'stanza-create'],
      osUser: layout.pgUser,
      env: { ...env, PGBACKREST_PG1_PATH: plan.primary.dataDir },
    });
    return warmThenInOrder(
      dataDir,
      names,
      (n) => ({ tool: 'pgbackrest', args: ['archive-push', join(dataDir, 'pg_wal', n)], env }),
      layout.pgUser,
      spacedMs,
    );
  };
  const pbLatency = await withPgbackrest('pgbackrest-latency', dirs.pbLatency, SPACED_MS);
  const pbBacklog = await withPgbackrest('pgbackrest-backlog', dirs.pbBacklog);

  const startup = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await spawnTool({ tool: join(repoRoot, 'bin', 'pgdr-archive'), args: [], osUser: layout.pgUser });
    startup.push((performance.now() - t0) / 1000);
  }

  // 5. Archive lag under pgbench write load, clients stepped up: pgdr's archive_command, then pgBackRest's.
  const load = await lagUnderLoad(stack, scratch, run);
  await removeScratch(scratch);

  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  const med = (r: { times: number[] }) => quantile(r.times, 0.5);
  const latency = (r: { times: number[] }) => `${ms(med(r))} / ${ms(quantile(r.times, 0.95))}`;
  const rate = (r: { total: number }) => counted.length / r.total;
  return [
    {
      metric: `wal archiving: segments (16 MiB, real WAL), archive_command one at a time in order, after 1 warm-up`,
      value: String(counted.length),
    },
    { metric: `latency (each .ready just before its call, ${SPACED_MS} ms apart): pgdr median / p95`, value: latency(agentLatency) },
    { metric: 'latency: pgbackrest archive-push (async, process-max=4) median / p95', value: latency(pbLatency) },
    { metric: 'latency ratio pgdr / pgbackrest (median)', value: (med(agentLatency) / med(pbLatency)).toFixed(2), target: '<= 1.0' },
    { metric: 'backlog (all .ready at once): pgdr latency median / p95', value: latency(agentBacklog) },
    { metric: 'backlog: pgbackrest latency median / p95', value: latency(pbBacklog) },
    {
      metric: 'backlog: sustained segments/s pgdr / pgbackrest',
      value: `${rate(agentBacklog).toFixed(2)} / ${rate(pbBacklog).toFixed(2)} (ratio ${(rate(agentBacklog) / rate(pbBacklog)).toFixed(2)})`,
      target: 'ratio >= 1.0',
    },
    { metric: 'the agent archiver pushed', value: agentBacklog.where },
    {
      metric: 'segments the agent marked durable, latency / backlog (the rest the client pushed itself)',
      value: `${agentLatency.marked} / ${agentBacklog.marked} of ${counted.length}`,
    },
    { metric: "the agent's push rate alone (all .ready, no archive_command running): segments/s", value: aloneRate.toFixed(2) },
    { metric: 'fallback (no agent: direct pgdr wal push) latency median / p95', value: latency(direct) },
    { metric: 'fallback sustained segments/s', value: rate(direct).toFixed(2) },
    { metric: 'thin client start-up (usage error, median of 5)', value: ms(quantile(startup, 0.5)) },
    ...load,
  ];
}

/** pgBackRest's settings for a bench repository at /bench-wal/<repo>, its lock, log and spool under `pbDir`. */
function pgbackrestEnv(stack: Stack, pbDir: string, repo: string, pgPath: string, user: ReturnType<typeof asUser>): Record<string, string> {
  const { layout, plan, secrets } = stack;
  const s3 = parse(readFileSync(layout.configFile, 'utf8')).storage;
  const url = new URL(s3.endpoint);
  for (const d of [pbDir, join(pbDir, 'lock'), join(pbDir, 'log'), join(pbDir, 'spool')]) {
    mkdirSync(d, { recursive: true, mode: 0o750 });
    if (user) chownSync(d, user.uid, user.gid);
  }
  return {
    PGBACKREST_STANZA: 'walbench',
    PGBACKREST_REPO1_TYPE: 's3',
    PGBACKREST_REPO1_S3_ENDPOINT: 'localhost', // the certificate names localhost; pgBackRest checks DNS names only
    PGBACKREST_REPO1_STORAGE_PORT: url.port,
    PGBACKREST_REPO1_S3_BUCKET: s3.bucket,
    PGBACKREST_REPO1_S3_REGION: s3.region,
    PGBACKREST_REPO1_S3_URI_STYLE: 'path',
    PGBACKREST_REPO1_PATH: `/bench-wal/${repo}`,
    PGBACKREST_REPO1_STORAGE_CA_FILE: s3.caFile,
    PGBACKREST_REPO1_S3_KEY: readFileSync(s3.accessKeyId.file, 'utf8').trim(),
    PGBACKREST_REPO1_S3_KEY_SECRET: readFileSync(s3.secretAccessKey.file, 'utf8').trim(),
    PGBACKREST_PG1_PATH: pgPath,
    PGBACKREST_PG1_PORT: String(plan.primary.port),
    PGBACKREST_PG1_SOCKET_PATH: plan.socketDir,
    PGBACKREST_PG1_USER: 'postgres',
    PGBACKREST_COMPRESS_TYPE: 'zst',
    PGBACKREST_COMPRESS_LEVEL: '3',
    PGBACKREST_ARCHIVE_ASYNC: 'y',
    PGBACKREST_PROCESS_MAX: '4',
    PGBACKREST_LOCK_PATH: join(pbDir, 'lock'),
    PGBACKREST_LOG_PATH: join(pbDir, 'log'),
    PGBACKREST_SPOOL_PATH: join(pbDir, 'spool'),
    PGBACKREST_LOG_LEVEL_CONSOLE: 'warn',
    PGBACKREST_LOG_LEVEL_FILE: 'off',
    PGPASSWORD: secrets.superuserPassword,
  };
}

/**
 * A pgbench write load on the bench primary, 1, 2, 4, then 8 clients (each transaction inserts
 * 200 rows of 640 bytes, about 150 kB of WAL, so the disk and not commit latency sets the rate),
 * first with pgdr's archive_command (the thin client, an agent archiver of its own), then with
 * pgBackRest's archive-push (async, process-max=4): WAL MB/s and archive lag (closed segments not
 * yet archived) per step, and the highest rate whose lag stayed within 2 segments.
 */
async function lagUnderLoad(stack: Stack, scratch: string, run: string): Promise<BenchRow[]> {
  const { layout, plan, secrets } = stack;
  const sql = (text: string) => psql(layout, plan, plan.primary.port, text, secrets);
  const total = Number(process.env.PGDR_BENCH_WAL_SECONDS ?? 120);
  const steps = [1, 2, 4, 8];
  const user = asUser(layout.pgUser);
  const config = benchConfig(layout, scratch, `${run}-load`, plan.primary.dataDir, join(layout.run, 'archiver'));
  const readSecret = createSecretReader();
  const deps = { config, readSecret, s3: createS3Client(config.storage, readSecret) };
  const script = join(scratch, 'walload.sql');
  writeFileSync(script, 'insert into walload(pad) select repeat(md5(random()::text), 20) from generate_series(1, 200);\n', { mode: 0o644 });
  const pgbench = (args: string[]) =>
    spawnTool({
      tool: 'pgbench',
      binDir: layout.pgBin,
      args: [...args, '-h', plan.socketDir, '-p', String(plan.primary.port), '-U', 'postgres', 'postgres'],
      osUser: layout.pgUser,
      env: { PGPASSWORD: secrets.superuserPassword },
    });
  const lagNow = async () => {
    const [lsn, last] = (await sql(`select pg_current_wal_lsn(), coalesce(last_archived_wal, '') from pg_stat_archiver`)).split('|');
    return /^[0-9A-F]{24}/.test(last ?? '') ? Math.max(0, segmentOfLsn(lsn!) - segmentNumber(last!.slice(0, 24)) - 1) : undefined;
  };
  const setArchiveCommand = (archiveCommand: string) =>
    enableArchivingOnNode(deps, { cluster: 'demo', node: 'primary', ...archiveCommands(config, 'demo'), archiveCommand });

  /** The steps with one archive_command; rows named by `who`. */
  async function steppedLoad(who: string, archiveCommand: string): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    await setArchiveCommand(archiveCommand);
    let best: { mbps: number; clients: number } | undefined;
    const [archived0, failed0] = (await sql('select archived_count, failed_count from pg_stat_archiver')).trim().split('|').map(Number);
    for (const clients of steps) {
      await sql('truncate walload; checkpoint');
      // Start each step from a caught-up archiver.
      await sql('select pg_switch_wal()');
      const caughtUp = Date.now() + 300_000;
      while ((await lagNow()) !== 0) {
        if (Date.now() > caughtUp) throw new Error(`${who}: the archiver did not catch up within 5 minutes`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const seconds = Math.max(10, Math.floor(total / steps.length));
      const lsn0 = (await sql('select pg_current_wal_lsn()')).trim();
      const load = pgbench(['-n', '-f', script, '-c', String(clients), '-j', String(Math.min(clients, 2)), '-T', String(seconds)]);
      const lags: number[] = [];
      const deadline = Date.now() + seconds * 1000;
      while (Date.now() < deadline) {
        const lag = await lagNow();
        if (lag !== undefined) lags.push(lag);
        await new Promise((r) => setTimeout(r, 1000));
      }
      await load;
      const lsn1 = (await sql('select pg_current_wal_lsn()')).trim();
      const mbps = Number(await sql(`select pg_wal_lsn_diff('${lsn1}', '${lsn0}') / 1048576`)) / seconds;
      const maxLag = Math.max(0, ...lags);
      if (maxLag <= 2 && (!best || mbps > best.mbps)) best = { mbps, clients };
      rows.push({
        metric: `${who}: pgbench ${clients} client(s), ${seconds} s: WAL MB/s, archive lag max / median (segments)`,
        value: `${mbps.toFixed(1)} MB/s, ${maxLag} / ${quantile(lags, 0.5)}`,
      });
    }
    const [archived1, failed1] = (await sql('select archived_count, failed_count from pg_stat_archiver')).trim().split('|').map(Number);
    rows.push({
      metric: `${who}: highest WAL rate with archive lag <= 2 segments`,
      value: best ? `${best.mbps.toFixed(1)} MB/s (${best.clients} clients)` : 'none: lag exceeded 2 segments at every step',
    });
    rows.push({
      metric: `${who}: segments archived / failed attempts during the load`,
      value: `${archived1! - archived0!} / ${failed1! - failed0!}`,
    });
    return rows;
  }

  // pgBackRest's archive_command reads its settings from a file only Postgres's OS user reads
  // (archive_command gets no environment of its own).
  const pbEnv = pgbackrestEnv(stack, join(scratch, 'pgbackrest-load'), `${run}/load`, plan.primary.dataDir, user);
  const pbConf = join(scratch, 'pgbackrest-load', 'pgbackrest.conf');
  const option = (k: string) => k.slice('PGBACKREST_'.length).toLowerCase().replaceAll('_', '-');
  const lines = (keep: (k: string) => boolean) =>
    Object.entries(pbEnv)
      .filter(([k]) => k.startsWith('PGBACKREST_') && k !== 'PGBACKREST_STANZA' && keep(k))
      .map(([k, v]) => `${option(k)}=${v}`)
      .join('\n');
  const stanzaOnly = (k: string) => k.startsWith('PGBACKREST_PG1_');
  writeFileSync(pbConf, `[global]\n${lines((k) => !stanzaOnly(k))}\n[walbench]\n${lines(stanzaOnly)}\n`, { mode: 0o600 });
  if (user) chownSync(pbConf, user.uid, user.gid);
  const pbCommand = `pgbackrest --config=${pbConf} --stanza=walbench archive-push %p`;

  const rows: BenchRow[] = [];
  const archiver = await agentProcess(config);
  try {
    await sql('create table if not exists walload(id bigserial, pad text)');
    rows.push(...(await steppedLoad('pgdr (agent archiver)', archiveCommands(config, 'demo').archiveCommand)));
    await archiver.stop();
    await runTool({
      tool: 'pgbackrest',
      args: [`--config=${pbConf}`, '--stanza=walbench', '--no-online', 'stanza-create'],
      osUser: layout.pgUser,
    });
    rows.push(...(await steppedLoad('pgbackrest (async, process-max=4)', pbCommand)));
  } finally {
    await archiver.stop();
    await sql('drop table if exists walload');
    // The stack's own archive_command again.
    const stackConfig = parseConfig(parse(readFileSync(layout.configFile, 'utf8')), layout.configFile);
    await enableArchivingOnNode(
      { ...deps, config: stackConfig },
      { cluster: 'demo', node: 'primary', ...archiveCommands(stackConfig, 'demo') },
    );
    deps.s3.destroy();
  }
  return rows;
}
