/**
 * A real Patroni cluster for tests and benchmarks: one etcd (v2 API, which the python-etcd
 * client of Debian's Patroni 3.0.2 speaks) and N Patroni members, each running its Postgres,
 * all as the unprivileged Postgres OS user on free ports.
 *
 * State lives in <stack>/patroni/<scope> and is removed by stop(); logs go to
 * <stack>/logs/patroni/<scope> and stay, so a failed run can be read afterwards.
 * Passwords are only ever in files (0600, owned by the Postgres user) or env, never in argv.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asUser, runTool } from '../../adapters/gateway.js';
import { NAME_FORM, NAME_PATTERN } from '../../domain/naming.js';
import type { StackLayout } from './layout.js';
import { ensurePgServerTls, ownedFile, pgdrRoleSql, pgServerTls, psqlArgs, type PgSecrets } from './postgres.js';
import { freePort, portOpen, sleep, waitFor } from './procs.js';

export interface PatroniNode {
  host: string;
  port: number;
  dataDir: string;
  binDir: string;
  osUser: string;
  /** Patroni REST API, e.g. http://127.0.0.1:41234 */
  patroniUrl: string;
}

export interface PatroniClusterHandle {
  /** Patroni scope (the cluster's name in the DCS). */
  scope: string;
  etcdUrl: string;
  /** Basic auth the REST API demands for unsafe endpoints (POST /switchover, /reinitialize, ...). */
  restAuth: { username: string; password: string };
  /** Members by name (pg1, pg2, ...); pg1 bootstraps the cluster and is the first leader. */
  nodes: Record<string, PatroniNode>;
  /** The leader's member name from GET /cluster of any member that answers; null when there is none. */
  leader(): Promise<string | null>;
  /** Stops every Patroni (which stops its Postgres), then etcd, and removes the state directory. */
  stop(): Promise<void>;
}

export interface PatroniClusterOptions {
  /** Patroni scope; also names the state directory. */
  scope: string;
  /** @default 2 */
  members?: number;
  secrets: PgSecrets;
}

/** What stop needs, written next to the state so a later process can clean up a crashed run. */
interface ClusterState {
  etcd: { clientPort: number; peerPort: number };
  members: Record<string, { pgPort: number; restPort: number; dataDir: string }>;
}

const START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 20_000;

export function patroniBaseDir(layout: StackLayout, scope: string): string {
  return join(layout.dir, 'patroni', scope);
}

export function patroniLogDir(layout: StackLayout, scope: string): string {
  return join(layout.logs, 'patroni', scope);
}

export async function startPatroniCluster(layout: StackLayout, opts: PatroniClusterOptions): Promise<PatroniClusterHandle> {
  const { scope, secrets } = opts;
  const count = opts.members ?? 2;
  if (!NAME_PATTERN.test(scope)) throw new Error(`patroni scope is "${scope}": expected a lowercase name: ${NAME_FORM}`);
  if (!Number.isInteger(count) || count < 1 || count > 5) throw new Error(`patroni members is ${count}: expected an integer from 1 to 5`);
  const user = layout.pgUser;
  const base = patroniBaseDir(layout, scope);
  const logDir = patroniLogDir(layout, scope);

  // 1. A previous run of this scope that crashed leaves processes and state: clear both.
  await stopPatroniCluster(layout, scope);
  ensurePgServerTls(layout);
  mkdirSync(join(layout.dir, 'patroni'), { recursive: true, mode: 0o755 });
  ownedDir(base, user, 0o700);
  ownedDir(join(base, 'run'), user, 0o700);
  ownedDir(join(layout.logs, 'patroni'), user, 0o755);
  rmSync(logDir, { recursive: true, force: true });
  ownedDir(logDir, user, 0o755);

  // 2. Ports and credentials. The REST and replication passwords are this cluster's own.
  const ports = new Set<number>();
  const pick = async () => {
    for (;;) {
      const p = await freePort();
      if (!ports.has(p)) {
        ports.add(p);
        return p;
      }
    }
  };
  const state: ClusterState = { etcd: { clientPort: await pick(), peerPort: await pick() }, members: {} };
  const names = Array.from({ length: count }, (_, i) => `pg${i + 1}`);
  for (const name of names) state.members[name] = { pgPort: await pick(), restPort: await pick(), dataDir: join(base, name, 'data') };
  writeFileSync(join(base, 'cluster.json'), JSON.stringify(state, null, 2) + '\n');
  const restAuth = { username: 'pgdr', password: randomBytes(18).toString('hex') };
  const passwords = { replication: randomBytes(18).toString('hex'), rewind: randomBytes(18).toString('hex') };
  const etcdUrl = `http://127.0.0.1:${state.etcd.clientPort}`;
  const nodes: Record<string, PatroniNode> = Object.fromEntries(
    names.map((n) => {
      const m = state.members[n]!;
      return [
        n,
        {
          host: '127.0.0.1',
          port: m.pgPort,
          dataDir: m.dataDir,
          binDir: layout.pgBin,
          osUser: user,
          patroniUrl: `http://127.0.0.1:${m.restPort}`,
        },
      ];
    }),
  );
  const handle: PatroniClusterHandle = {
    scope,
    etcdUrl,
    restAuth,
    nodes,
    leader: () => clusterLeader(Object.values(nodes).map((n) => n.patroniUrl)),
    stop: async () => {
      await stopPatroniCluster(layout, scope);
    },
  };

  try {
    // 3. etcd with the v2 API enabled (python-etcd knows nothing else).
    const etcdLog = join(logDir, 'etcd.log');
    ownedDir(join(base, 'etcd'), user, 0o700);
    startAsUser(user, {
      cmd: '/usr/bin/etcd',
      args: [
        '--name',
        'etcd1',
        '--data-dir',
        join(base, 'etcd'),
        '--listen-client-urls',
        etcdUrl,
        '--advertise-client-urls',
        etcdUrl,
        '--listen-peer-urls',
        `http://127.0.0.1:${state.etcd.peerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${state.etcd.peerPort}`,
        '--initial-cluster',
        `etcd1=http://127.0.0.1:${state.etcd.peerPort}`,
        '--initial-cluster-state',
        'new',
        '--enable-v2=true',
        '--logger',
        'zap',
        '--log-level',
        'warn',
      ],
      cwd: base,
      logFile: etcdLog,
      pidFile: join(base, 'run', 'etcd.pid'),
    });
    await waitFor(
      `etcd on ${etcdUrl}`,
      async () => (await getJson<{ health?: string }>(`${etcdUrl}/health`))?.health === 'true',
      30_000,
      etcdLog,
    );

    // 4. The first member bootstraps (initdb) and becomes leader; then the pgdr role.
    const first = names[0]!;
    startMember(layout, base, logDir, first, memberConfig(layout, base, scope, first, state, restAuth, passwords, secrets));
    const firstLog = join(logDir, `${first}.log`);
    await waitFor(
      `patroni ${scope}/${first} to lead a running postgres`,
      async () =>
        (await getJson<ClusterJson>(`${nodes[first]!.patroniUrl}/cluster`))?.members?.some(
          (m) => m.name === first && m.role === 'leader' && m.state === 'running',
        ) === true,
      START_TIMEOUT_MS,
      firstLog,
    );
    const sql = (text: string) => psqlAt(layout, base, first, state.members[first]!.pgPort, secrets, text);
    await waitFor(
      `the pgdr role on ${scope}/${first}`,
      async () => {
        await sql(pgdrRoleSql(secrets.pgdrPassword));
        return true;
      },
      30_000,
      firstLog,
    );

    // 5. The others clone from it (pg_basebackup) and stream on slots Patroni keeps.
    for (const name of names.slice(1))
      startMember(layout, base, logDir, name, memberConfig(layout, base, scope, name, state, restAuth, passwords, secrets));
    if (names.length > 1) {
      await waitFor(
        `${names.length - 1} replica(s) of ${scope} streaming`,
        async () => {
          const streaming = Number((await sql("select count(*) from pg_stat_replication where state = 'streaming'")).trim());
          const members = (await getJson<ClusterJson>(`${nodes[first]!.patroniUrl}/cluster`))?.members ?? [];
          const ready = members.filter((m) => m.role !== 'leader' && (m.state === 'running' || m.state === 'streaming'));
          return streaming === names.length - 1 && ready.length === names.length - 1;
        },
        START_TIMEOUT_MS,
        join(logDir, `${names[names.length - 1]}.log`),
      );
    }
    return handle;
  } catch (err) {
    await stopPatroniCluster(layout, scope).catch(() => undefined);
    throw err;
  }
}

/**
 * Stops what a cluster of this scope left running, from its pid files alone (so a later
 * process can clean up after a crashed one), and removes its state directory. Replicas stop
 * first, so their Patroni cannot take over from a leader that is shutting down.
 */
export async function stopPatroniCluster(layout: StackLayout, scope: string): Promise<void> {
  const base = patroniBaseDir(layout, scope);
  if (!existsSync(base)) return;
  const stateFile = join(base, 'cluster.json');
  const state: ClusterState | undefined = existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : undefined;
  const run = join(base, 'run');
  const members = Object.keys(state?.members ?? {});
  const leader = await clusterLeader(members.map((n) => `http://127.0.0.1:${state!.members[n]!.restPort}`)).catch(() => null);

  const patroni = (n: string): Proc => ({ pid: pidFrom(join(run, `${n}.pid`)), marker: join(base, n), what: `patroni ${scope}/${n}` });
  // Read now: a clean shutdown removes postmaster.pid.
  const postmasters = members.map((n): Proc => ({
    pid: pidFrom(join(state!.members[n]!.dataDir, 'postmaster.pid')),
    marker: state!.members[n]!.dataDir,
    what: `postgres ${scope}/${n}`,
  }));
  const replicas = members.filter((n) => n !== leader);

  // 1. Patroni stops its Postgres (fast) on SIGTERM and leaves the DCS. Replicas go first: once
  //    a replica's Postgres is down its Patroni is leaving and cannot take over from the leader.
  replicas.forEach((n) => signal(patroni(n), 'SIGTERM'));
  await Promise.all(replicas.map((n) => waitGone([patroni(n), postmasters[members.indexOf(n)]!], STOP_GRACE_MS, 'any')));
  await stopProcs([...replicas, ...members.filter((n) => n === leader)].map(patroni), 'SIGTERM');
  // 2. A Postgres whose Patroni was killed runs on (Patroni starts it in a session of its own).
  await stopProcs(postmasters, 'SIGINT');
  // 3. etcd last: Patroni needs it to leave cleanly.
  await stopProcs([{ pid: pidFrom(join(run, 'etcd.pid')), marker: base, what: `etcd ${scope}` }], 'SIGTERM');

  // 4. Only once nothing listens any more is the state safe to remove.
  if (state) {
    const ports = [state.etcd.clientPort, state.etcd.peerPort, ...Object.values(state.members).flatMap((m) => [m.pgPort, m.restPort])];
    await waitFor(
      `ports ${ports.join(', ')} of ${scope} to close`,
      async () => (await Promise.all(ports.map((p) => portOpen(p)))).every((open) => !open),
      10_000,
    );
  }
  rmSync(base, { recursive: true, force: true });
}

/** A member in GET /cluster; 3.0.2 reports a streaming replica as state "running" with its lag. */
interface ClusterMember {
  name: string;
  role: string;
  state: string;
  lag?: number | string;
}

interface ClusterJson {
  members?: ClusterMember[];
}

async function clusterLeader(patroniUrls: string[]): Promise<string | null> {
  for (const url of patroniUrls) {
    const body = await getJson<ClusterJson>(`${url}/cluster`);
    if (!body) continue;
    const leader = body.members?.find((m) => m.role === 'leader' || m.role === 'standby_leader');
    return leader?.name ?? null;
  }
  return null;
}

/** GET a JSON document; undefined when nothing answers, the status is not 200 or the body no JSON. */
async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) return undefined;
    return (await res.json()) as T;
  } catch {
    return undefined;
  }
}

// Patroni reads its configuration with yaml.safe_load; JSON is YAML and needs no quoting rules.
function memberConfig(
  layout: StackLayout,
  base: string,
  scope: string,
  name: string,
  state: ClusterState,
  restAuth: { username: string; password: string },
  passwords: { replication: string; rewind: string },
  secrets: PgSecrets,
): object {
  const m = state.members[name]!;
  const dir = join(base, name);
  return {
    scope,
    name,
    log: { level: 'INFO' },
    restapi: { listen: `127.0.0.1:${m.restPort}`, connect_address: `127.0.0.1:${m.restPort}`, authentication: restAuth },
    etcd: { hosts: [`127.0.0.1:${state.etcd.clientPort}`] },
    bootstrap: {
      // Short timings so failovers in tests take seconds, not half a minute.
      dcs: {
        ttl: 10,
        loop_wait: 1,
        retry_timeout: 5,
        maximum_lag_on_failover: 1048576,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            wal_level: 'replica',
            hot_standby: 'on',
            wal_log_hints: 'on',
            max_wal_senders: 10,
            max_replication_slots: 10,
            archive_mode: 'on',
            archive_command: '/bin/true',
            // A clone starts before the leader has made its slot; retry streaming soon (default 5s).
            wal_retrieve_retry_interval: '1s',
          },
        },
      },
      // No "trust" window between initdb and Patroni writing pg_hba.conf.
      initdb: [
        'data-checksums',
        { encoding: 'UTF8' },
        { locale: 'C' },
        { 'auth-local': 'scram-sha-256' },
        { 'auth-host': 'scram-sha-256' },
      ],
    },
    postgresql: {
      listen: `127.0.0.1:${m.pgPort}`,
      connect_address: `127.0.0.1:${m.pgPort}`,
      data_dir: m.dataDir,
      bin_dir: layout.pgBin,
      pgpass: join(dir, 'pgpass'),
      authentication: {
        superuser: { username: 'postgres', password: secrets.superuserPassword },
        replication: { username: 'replicator', password: passwords.replication },
        rewind: { username: 'rewinder', password: passwords.rewind },
      },
      // TLS offered with the stack's certificate, as pgdr's verify-full expects; plain TCP still allowed (Patroni's own clients).
      parameters: {
        unix_socket_directories: join(dir, 'sock'),
        password_encryption: 'scram-sha-256',
        ssl: 'on',
        ssl_cert_file: pgServerTls(layout).cert,
        ssl_key_file: pgServerTls(layout).key,
      },
      pg_hba: ['local all all scram-sha-256', 'host all all 127.0.0.1/32 scram-sha-256', 'host replication all 127.0.0.1/32 scram-sha-256'],
      // Without a fast checkpoint a clone of an idle leader waits for checkpoint_timeout.
      basebackup: [{ checkpoint: 'fast' }],
    },
  };
}

function startMember(layout: StackLayout, base: string, logDir: string, name: string, config: object): void {
  const dir = join(base, name);
  ownedDir(dir, layout.pgUser, 0o700);
  ownedDir(join(dir, 'sock'), layout.pgUser, 0o700);
  const configFile = join(dir, 'patroni.yml');
  ownedFile(configFile, layout.pgUser, JSON.stringify(config, null, 2) + '\n');
  startAsUser(layout.pgUser, {
    cmd: '/usr/bin/patroni',
    args: [configFile],
    cwd: dir,
    logFile: join(logDir, `${name}.log`),
    pidFile: join(base, 'run', `${name}.pid`),
  });
}

/** Runs SQL as the superuser over the member's socket; the password travels in env. */
async function psqlAt(layout: StackLayout, base: string, name: string, port: number, secrets: PgSecrets, sql: string): Promise<string> {
  const res = await runTool({
    tool: 'psql',
    binDir: layout.pgBin,
    args: psqlArgs(join(base, name, 'sock'), port),
    osUser: layout.pgUser,
    env: { PGPASSWORD: secrets.superuserPassword },
    input: sql,
  });
  return res.stdout;
}

/**
 * A daemon as the Postgres OS user in a process group of its own, with a minimal environment
 * (ours may hold secrets) and its output appended to logFile.
 */
function startAsUser(user: string, opts: { cmd: string; args: string[]; cwd: string; logFile: string; pidFile: string }): number {
  const ids = asUser(user);
  const out = openSync(opts.logFile, 'a', 0o600);
  chmodSync(opts.logFile, 0o600);
  if (ids) chownSync(opts.logFile, ids.uid, ids.gid);
  try {
    const env = {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C',
      LC_ALL: 'C',
      ...(ids ? { HOME: ids.home, USER: user, LOGNAME: user } : { HOME: process.env.HOME ?? '/' }),
    };
    const child = spawn(opts.cmd, opts.args, {
      detached: true,
      stdio: ['ignore', out, out],
      env,
      cwd: opts.cwd,
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    // A failed exec is also reported on 'error'; without a listener it would crash the process.
    child.on('error', (err) => console.error(`stack: ${opts.cmd}: ${err.message}`));
    if (!child.pid) throw new Error(`could not start ${opts.cmd}`);
    child.unref();
    writeFileSync(opts.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

function pidFrom(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Is pid a live process whose command line mentions marker? PID 1 of a container may not reap,
 * so a dead child can linger as a zombie that kill(pid, 0) still reports; /proc tells them
 * apart. The marker guards against a pid reused by an unrelated process.
 */
function running(pid: number, marker: string): boolean {
  try {
    const s = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    if (!s || s === 'Z' || s === 'X') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').includes(marker);
  } catch {
    return false;
  }
}

interface Proc {
  pid: number | undefined;
  /** A string its command line contains (see running). */
  marker: string;
  what: string;
}

const alive = (p: Proc): boolean => p.pid !== undefined && running(p.pid, p.marker);

/** Signals the process group led by the process (Patroni, etcd), else just the process (a postmaster). */
function signal(p: Proc, sig: NodeJS.Signals): void {
  if (!alive(p)) return;
  for (const target of [-p.pid!, p.pid!]) {
    try {
      process.kill(target, sig);
      return;
    } catch {
      /* not a group leader, or gone */
    }
  }
}

/** Waits until all (or any one) of the processes are gone; false on timeout. */
async function waitGone(procs: Proc[], ms: number, until: 'all' | 'any' = 'all'): Promise<boolean> {
  const gone = () => (until === 'all' ? !procs.some(alive) : !procs.every(alive));
  const deadline = Date.now() + ms;
  while (!gone() && Date.now() < deadline) await sleep(100);
  return gone();
}

/** Signals every process, waits for them all, then SIGKILLs what is left. */
async function stopProcs(procs: Proc[], first: NodeJS.Signals): Promise<void> {
  procs.forEach((p) => signal(p, first));
  if (await waitGone(procs, STOP_GRACE_MS)) return;
  for (const p of procs.filter(alive)) {
    console.error(`stack: ${p.what} (pid ${p.pid}) did not stop within ${STOP_GRACE_MS} ms; killing it`);
    signal(p, 'SIGKILL');
  }
  await waitGone(procs, 5000);
}

function ownedDir(path: string, user: string, mode: number): void {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
  const ids = asUser(user);
  if (ids) chownSync(path, ids.uid, ids.gid);
}
