/**
 * The multi-host topology (scripts/hosts/netns.ts makes the hosts):
 *
 *   svc   Temporal (.10) and MinIO over TLS (.19)
 *   ctl1  a control worker and the HTTP API (.11)
 *   ctl2  a second control worker (.12)
 *   pg1   Postgres primary and its pgdr agent (.21)
 *   pg2   Postgres standby and its agent (.22)
 *   pg3   Postgres standby and its agent (.23): PITR and drill destination
 *
 * on 198.18.<subnet>.0/24, with the machine itself at .1. Every host sees its own state directory
 * (<dir>/hosts/<host>) also at <dir>/local, the way every real host has its own /var/lib and
 * /run: the config names one path for all of them (archive.agent.stateDir, restore.dir), and what
 * is behind it differs per host. Other hosts' state directories are masked.
 *
 * pgdr runs as the compiled package would (bin/pgdr-worker and bin/pgdr-api over dist/), each
 * process on its host: agents with --role agent --nodes multi/<node>, control workers with
 * --role control. Postgres runs as the unprivileged OS user, started by pg_ctl on its host.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { asUser } from '../../adapters/gateway.js';
import { tcpCheck } from '../../adapters/net.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { archiveCommands } from '../../config/archiveCommands.js';
import { parseConfig } from '../../config/load.js';
import { confString } from '../../domain/pgconf.js';
import { repoRoot } from '../stack/layout.js';
import { ensureBucket, STACK_KMS_KEY_ID } from '../stack/minio.js';
import { databasesLine, iniText, PGBOUNCER_BIN, userlistText } from '../stack/pgbouncer.js';
import { pgdrRoleSql, ownedFile, psqlArgs, REPLICATION_SETTINGS } from '../stack/postgres.js';
import { findTool, GiveUp, isAlive, startDaemon, stopDaemon, waitFor, readPid } from '../stack/procs.js';
import { ensureSecrets, type SecretName } from '../stack/secrets.js';
import { devServerArgs } from '../stack/temporal.js';
import { issueCert, makeCa } from '../stack/tls.js';
import { buildAll } from '../build.js';
import { homedir } from 'node:os';
import { request as httpsRequest } from 'node:https';
import { leftovers, netDown, netUp, onHost, type NetPlan } from './netns.js';
import { haproxyConfig } from './haproxy.js';

export const CLUSTER = 'multi';
export const PG_NODES = ['pg1', 'pg2', 'pg3'] as const;
export type PgNode = (typeof PG_NODES)[number];
export const CONTROL_HOSTS = ['ctl1', 'ctl2'] as const;
/**
 * The node whose server is managed the Debian way: registered with pg_createcluster (its
 * configuration in the host's own /etc/postgresql/<major>/pg2) and run by pg_ctlcluster, by the
 * harness and by pgdr alike. It is the switchover candidate and the rebuilt node.
 */
export const DEBIAN_NODE: PgNode = 'pg2';
/** Debian's directories a Postgres host keeps its own copy of (its state directory's debian/<name>). */
const DEBIAN_DIRS = { etc: '/etc/postgresql', log: '/var/log/postgresql', run: '/run/postgresql' } as const;

export interface Topology {
  tag: string;
  dir: string;
  /** The path every host sees its own state directory at. */
  local: string;
  net: NetPlan;
  addr: { svc: string; minio: string; ctl1: string; ctl2: string; pg1: string; pg2: string; pg3: string; gateway: string };
  ports: {
    temporal: number;
    temporalUi: number;
    minio: number;
    minioConsole: number;
    api: number;
    pg: number;
    /** Each node agent's role endpoints (nodes.<node>.healthPort). */
    health: number;
    /** HAProxy on ctl1: writes (the primary) and reads (the standbys). */
    haproxyWrite: number;
    /** HAProxy on ctl1: writes to the PgBouncer on the primary's host (HAProxy in front of PgBouncer). */
    haproxyPooled: number;
    haproxyRead: number;
    /** PgBouncer on pg3 (its agent rewrites the [databases] include on switchover). */
    pgbouncer: number;
  };
  configFile: string;
  caCert: string;
  secretsDir: string;
  pgBin: string;
  pgUser: string;
  toolsBin: string;
  /**
   * Temporal Schedules for the cluster (the WAL check every 5 min, nightly backups): on for a
   * person's harness; off for tests and benchmarks (PGDR_HOSTS_SCHEDULES=off), which start every
   * procedure themselves and must not meet a scheduled one mid-fault.
   */
  schedules: boolean;
}

/**
 * PGDR_HOSTS_TAG (1–3 letters/digits, default "d") names the namespaces and links;
 * PGDR_HOSTS_SUBNET (0–255, default 0) is the third octet of 198.18.x.0/24; PGDR_HOSTS_SCHEDULES (on|off, default on)
 * says whether the cluster gets its Temporal Schedules.
 */
export function topology(env: NodeJS.ProcessEnv = process.env): Topology {
  const tag = env.PGDR_HOSTS_TAG ?? 'd';
  const subnet = Number(env.PGDR_HOSTS_SUBNET ?? 0);
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255)
    throw new Error(`PGDR_HOSTS_SUBNET is "${env.PGDR_HOSTS_SUBNET}": expected an integer from 0 to 255 (198.18.<n>.0/24)`);
  const dir = resolve(env.PGDR_HOSTS_DIR ?? join(repoRoot, '.pgdr-stack', `hosts-${tag}`));
  const a = (n: number) => `198.18.${subnet}.${n}`;
  const addr = { gateway: a(1), svc: a(10), minio: a(19), ctl1: a(11), ctl2: a(12), pg1: a(21), pg2: a(22), pg3: a(23) };
  const local = join(dir, 'local');
  const net: NetPlan = {
    tag,
    gateway: addr.gateway,
    prefixLength: 24,
    hosts: [
      { name: 'svc', addresses: [addr.svc, addr.minio] },
      { name: 'ctl1', addresses: [addr.ctl1] },
      { name: 'ctl2', addresses: [addr.ctl2] },
      ...PG_NODES.map((n) => ({
        name: n,
        addresses: [addr[n]],
        binds: Object.entries(DEBIAN_DIRS).map(([name, target]) => ({ source: join(dir, 'hosts', n, 'debian', name), target })),
      })),
    ],
    stateDirOf: (host) => join(dir, 'hosts', host),
    localDir: local,
  };
  const toolsDir = env.PGDR_TOOLS_DIR ?? join(homedir(), '.cache', 'pgdr', 'tools');
  return {
    tag,
    dir,
    local,
    net,
    addr,
    ports: {
      temporal: 7233,
      temporalUi: 8233,
      minio: 9000,
      minioConsole: 9001,
      api: 8484,
      pg: 5432,
      health: 8008,
      haproxyWrite: 5000,
      haproxyRead: 5001,
      haproxyPooled: 5002,
      pgbouncer: 6432,
    },
    configFile: join(dir, 'pgdr.yaml'),
    caCert: join(dir, 'tls', 'ca.crt'),
    secretsDir: join(dir, 'secrets'),
    pgBin: env.PGDR_PG_BIN ?? '/usr/lib/postgresql/15/bin',
    pgUser: env.PGDR_PG_OS_USER ?? 'postgres',
    toolsBin: join(toolsDir, 'bin'),
    schedules: schedulesOn(env.PGDR_HOSTS_SCHEDULES),
  };
}

function schedulesOn(value: string | undefined): boolean {
  if (value === undefined || value === 'on') return true;
  if (value === 'off') return false;
  throw new Error(`PGDR_HOSTS_SCHEDULES is "${value}": expected on or off`);
}

/** The PostgreSQL major version of the harness's tools (from PGDR_PG_BIN: /usr/lib/postgresql/<major>/bin). */
export function pgMajorOf(t: Topology): string {
  const m = /\/postgresql\/(\d+)\/bin\/?$/.exec(t.pgBin);
  if (!m) throw new Error(`PGDR_PG_BIN is "${t.pgBin}": expected Debian's layout /usr/lib/postgresql/<major>/bin`);
  return m[1]!;
}

/** How the harness and pgdr run a node's server: pg_ctl, or pg_ctlcluster for the Debian node. */
export const managerOf = (t: Topology, node: PgNode) => (node === DEBIAN_NODE ? `pg_ctlcluster ${pgMajorOf(t)} ${node}` : 'pg_ctl');

/** The Debian node's configuration directory, machine's view (its host sees /etc/postgresql/<major>/<node>). */
export const debianConfDir = (t: Topology, node: PgNode) => join(hostDir(t, node), 'debian', 'etc', pgMajorOf(t), node);

/**
 * A node's server log as the harness started it, machine's view: the Debian node's is
 * postgresql-common's (every start through pg_ctlcluster, pgdr's too, appends there).
 */
export const serverLogOf = (t: Topology, node: PgNode) =>
  node === DEBIAN_NODE
    ? join(hostDir(t, node), 'debian', 'log', `postgresql-${pgMajorOf(t)}-${node}.log`)
    : join(hostDir(t, node), 'logs', 'postgres.log');

/** A host's state directory as the machine (outside every host) sees it. */
export const hostDir = (t: Topology, host: string) => t.net.stateDirOf(host);
/** Where a node's data directory is: the same path on its host (under <local>), different data. */
export const dataDirOf = (t: Topology, node: PgNode) => join(t.local, 'pg', node);
const runDir = (t: Topology) => join(t.local, 'run');

/** Runs a command on a host and waits for it (as `user` when given). */
export async function runOn(
  t: Topology,
  host: string,
  argv: string[],
  opts: { user?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<string> {
  const [cmd, ...args] = onHost(t.net, host);
  const asUserArgs = opts.user ? ['runuser', '-u', opts.user, '--'] : [];
  const res = await execa(cmd!, [...args, ...asUserArgs, ...argv], {
    env: opts.env,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  return res.stdout;
}

/** Starts a daemon on a host: pid file and log in the host's state directory (machine's view). */
function daemonOn(t: Topology, host: string, name: string, argv: string[], env: NodeJS.ProcessEnv = {}): void {
  const base = hostDir(t, host);
  const pidFile = join(base, 'run', `${name}.pid`);
  if (readPid(pidFile)) return;
  const [cmd, ...args] = onHost(t.net, host);
  startDaemon({ cmd: cmd!, args: [...args, ...argv], env, logFile: join(base, 'logs', `${name}.log`), pidFile, cwd: repoRoot });
}

export const daemonLog = (t: Topology, host: string, name: string) => join(hostDir(t, host), 'logs', `${name}.log`);

async function reachable(address: string, port: number): Promise<boolean> {
  return (await tcpCheck(address, port, 1000)).ok;
}

/** The CA and one server certificate naming every host address (and 127.0.0.1 for tools on a host). */
async function ensureTopologyTls(t: Topology): Promise<{ cert: string; key: string }> {
  const dir = join(t.dir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const caKey = join(dir, 'ca.key');
  if (!existsSync(t.caCert)) await makeCa(t.caCert, caKey, '/CN=pgdr hosts CA');
  chmodSync(t.caCert, 0o644);
  const cert = join(dir, 'server.crt');
  if (!existsSync(cert)) {
    const ips = [...new Set([...Object.values(t.addr), '127.0.0.1'])];
    await issueCert({
      dir,
      name: 'server',
      cn: t.addr.svc,
      ca: { cert: t.caCert, key: caKey },
      usage: 'serverAuth',
      san: ips.map((i) => `IP:${i}`),
      days: 825,
    });
  }
  return { cert, key: join(dir, 'server.key') };
}

export function topologyConfig(t: Topology, secrets: Record<SecretName, { file: string }>): Record<string, unknown> {
  return {
    temporal: {
      address: `${t.addr.svc}:${t.ports.temporal}`,
      namespace: 'default',
      taskQueue: 'pgdr',
      uiUrl: `http://${t.addr.svc}:${t.ports.temporalUi}`,
    },
    storage: {
      endpoint: `https://${t.addr.minio}:${t.ports.minio}`,
      region: 'us-east-1',
      bucket: 'pgdr',
      prefix: 'pgdr',
      forcePathStyle: true,
      caFile: t.caCert,
      accessKeyId: { file: secrets['minio-access-key'].file },
      secretAccessKey: { file: secrets['minio-secret-key'].file },
    },
    api: { host: t.addr.ctl1, port: t.ports.api, token: { file: secrets['api-token'].file } },
    clusters: {
      [CLUSTER]: {
        database: 'postgres',
        user: 'pgdr',
        password: { file: secrets['pgdr-password'].file },
        sslmode: 'verify-full',
        sslRootCert: t.caCert,
        backup: { checkpoint: 'fast', scratchDir: join(t.local, 'scratch'), ...(t.schedules ? {} : { schedules: {} }) },
        restore: { dir: join(t.local, 'restores'), node: 'pg3' },
        drill: { node: 'pg3', cron: null },
        // Each host's own /run: the agent and archive_command meet there, per host.
        // Tests wait for the check's round trip while storage is cut off: 15 s, not the default 60.
        archive: {
          agent: { stateDir: join(runDir(t), 'archiver') },
          roundTripTimeoutSeconds: 15,
          ...(t.schedules ? {} : { checkCron: null }),
        },
        replication: { passfile: join(t.local, 'pgpass') },
        // PgBouncer runs on pg3's host: pg3's agent owns its [databases] include.
        pgbouncer: {
          host: t.addr[PGBOUNCER_HOST],
          port: t.ports.pgbouncer,
          node: PGBOUNCER_HOST,
          databasesFile: pgbouncerFiles(t).databases,
        },
        nodes: Object.fromEntries(
          PG_NODES.map((n) => [
            n,
            {
              host: t.addr[n],
              port: t.ports.pg,
              dataDir: dataDirOf(t, n),
              binDir: t.pgBin,
              osUser: t.pgUser,
              manager: managerOf(t, n),
              slot: `${CLUSTER}_${n}`,
              healthPort: t.ports.health,
            },
          ]),
        ),
      },
    },
  };
}

function pgConf(t: Topology, node: PgNode, commands: { archiveCommand: string; restoreCommand: string }): string {
  return [
    '# written by the pgdr hosts harness; included from postgresql.conf',
    `listen_addresses = '${t.addr[node]},127.0.0.1'`,
    `ssl = on`,
    `ssl_cert_file = ${confString(join(t.local, 'tls', 'server.crt'))}`,
    `ssl_key_file = ${confString(join(t.local, 'tls', 'server.key'))}`,
    `port = ${t.ports.pg}`,
    `unix_socket_directories = ${confString(join(runDir(t), 'pg'))}`,
    ...REPLICATION_SETTINGS,
    `archive_command = ${confString(commands.archiveCommand)}`,
    `restore_command = ${confString(commands.restoreCommand)}`,
    `shared_buffers = 64MB`,
    `log_line_prefix = '%m [%p] %q%u@%d '`,
    '',
  ].join('\n');
}

function hba(t: Topology): string {
  const subnet = t.addr.gateway.replace(/\.1$/, '.0/24');
  return [
    '# written by the pgdr hosts harness: TLS only, from the harness subnet and the host itself',
    'local   all          all                      scram-sha-256',
    `hostssl all          all        ${subnet.padEnd(15)} scram-sha-256`,
    `hostssl replication  all        ${subnet.padEnd(15)} scram-sha-256`,
    'hostssl all          all        127.0.0.1/32    scram-sha-256',
    '',
  ].join('\n');
}

/** Files a node's host holds for Postgres: its TLS copy and the replication passfile (machine's view). */
function hostPgFiles(t: Topology, node: PgNode, tls: { cert: string; key: string }, pgdrPassword: string): void {
  const base = hostDir(t, node);
  const ids = asUser(t.pgUser);
  for (const d of [
    'pg',
    'tls',
    'run',
    join('run', 'pg'),
    'scratch',
    'restores',
    ...Object.keys(DEBIAN_DIRS).map((k) => join('debian', k)),
  ]) {
    mkdirSync(join(base, d), { recursive: true, mode: 0o755 });
    if (ids) chownSync(join(base, d), ids.uid, ids.gid);
  }
  ownedFile(join(base, 'tls', 'server.crt'), t.pgUser, readFileSync(tls.cert, 'utf8'), 0o644);
  ownedFile(join(base, 'tls', 'server.key'), t.pgUser, readFileSync(tls.key, 'utf8'), 0o600);
  const escaped = pgdrPassword.replace(/[\\:]/g, '\\$&');
  ownedFile(join(base, 'pgpass'), t.pgUser, PG_NODES.map((n) => `${t.addr[n]}:${t.ports.pg}:*:pgdr:${escaped}\n`).join(''));
}

async function pgCtlOn(t: Topology, node: PgNode, action: 'start' | 'stop'): Promise<void> {
  // As long as pgdr gives a start (300 s): a host back from a loss runs crash recovery, which a
  // loaded machine stretched past 60 s.
  const wait = ['-w', '-t', '300'];
  if (node === DEBIAN_NODE) {
    const argv = ['pg_ctlcluster', pgMajorOf(t), node, action, ...(action === 'stop' ? ['-m', 'fast'] : []), '--', ...wait];
    await runOn(t, node, argv, { user: t.pgUser });
    return;
  }
  const args = ['-D', dataDirOf(t, node), ...wait];
  if (action === 'start') args.push('-l', join(t.local, 'logs', 'postgres.log'), 'start');
  else args.push('-m', 'fast', 'stop');
  await runOn(t, node, [join(t.pgBin, 'pg_ctl'), ...args], { user: t.pgUser });
}

async function psqlOn(t: Topology, node: PgNode, sql: string, superuserPassword: string): Promise<string> {
  return runOn(t, node, [join(t.pgBin, 'psql'), ...psqlArgs(join(runDir(t), 'pg'), t.ports.pg)], {
    user: t.pgUser,
    env: { PGPASSWORD: superuserPassword },
    input: sql,
  });
}

async function ensurePostgres(
  t: Topology,
  tls: { cert: string; key: string },
  secrets: Record<SecretName, { value: string }>,
  commands: { archiveCommand: string; restoreCommand: string },
): Promise<void> {
  for (const n of PG_NODES) hostPgFiles(t, n, tls, secrets['pgdr-password'].value);
  const [primary, ...standbys] = PG_NODES;
  const pw = secrets['pg-superuser-password'].value;
  const pgData = (n: PgNode) => join(hostDir(t, n), 'pg', n);
  if (!existsSync(join(pgData(primary), 'PG_VERSION'))) {
    const pwfile = join(hostDir(t, primary), 'pg', '.initdb-pw');
    ownedFile(pwfile, t.pgUser, `${pw}\n`);
    await runOn(
      t,
      primary,
      [
        join(t.pgBin, 'initdb'),
        '-D',
        dataDirOf(t, primary),
        '--data-checksums',
        '--auth-local=scram-sha-256',
        '--auth-host=scram-sha-256',
        '-U',
        'postgres',
        `--pwfile=${join(t.local, 'pg', '.initdb-pw')}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      { user: t.pgUser },
    );
    rmSync(pwfile, { force: true });
    writeFileSync(join(pgData(primary), 'postgresql.conf'), "include_if_exists = 'pgdr.conf'\n", { flag: 'a' });
  }
  // Configuration goes where the node's layout keeps it: the data directory, or /etc/postgresql.
  const configure = (n: PgNode) => {
    const dir = n === DEBIAN_NODE ? debianConfDir(t, n) : pgData(n);
    ownedFile(join(dir, 'pg_hba.conf'), t.pgUser, hba(t));
    ownedFile(join(dir, 'pgdr.conf'), t.pgUser, pgConf(t, n, commands));
  };
  configure(primary);
  if (!(await reachable(t.addr[primary], t.ports.pg))) await pgCtlOn(t, primary, 'start');
  const version = Number(await psqlOn(t, primary, 'show server_version_num', pw));
  const slots = standbys.map((s) => `${CLUSTER}_${s}`);
  await psqlOn(
    t,
    primary,
    pgdrRoleSql(secrets['pgdr-password'].value, version) +
      slots
        .map(
          (s) =>
            `select pg_create_physical_replication_slot('${s}') where not exists (select from pg_replication_slots where slot_name = '${s}');`,
        )
        .join('\n'),
    pw,
  );
  for (const s of standbys) {
    if (!existsSync(join(pgData(s), 'PG_VERSION'))) {
      // Cloned over the bridge, from the standby's own host.
      await runOn(
        t,
        s,
        [
          join(t.pgBin, 'pg_basebackup'),
          '-h',
          t.addr[primary],
          '-p',
          String(t.ports.pg),
          '-U',
          'pgdr',
          '-D',
          dataDirOf(t, s),
          '-X',
          'stream',
          '-S',
          `${CLUSTER}_${s}`,
          '-R',
          '-c',
          'fast',
          '--no-password',
        ],
        { user: t.pgUser, env: { PGPASSFILE: join(t.local, 'pgpass'), PGSSLMODE: 'verify-full', PGSSLROOTCERT: t.caCert } },
      );
    }
    // The clone registered as a Debian cluster: pg_createcluster takes an existing data
    // directory and moves its postgresql.conf, pg_hba.conf and pg_ident.conf to /etc/postgresql.
    if (s === DEBIAN_NODE && !existsSync(debianConfDir(t, s)))
      await runOn(t, s, ['pg_createcluster', pgMajorOf(t), s, '-d', dataDirOf(t, s), '-u', t.pgUser, '-p', String(t.ports.pg)]);
    configure(s);
    if (!(await reachable(t.addr[s], t.ports.pg))) await pgCtlOn(t, s, 'start');
  }
  await waitFor(
    `${CLUSTER} standbys streaming from ${primary}`,
    async () =>
      (
        await psqlOn(
          t,
          primary,
          `select count(*) from pg_replication_slots where slot_name in (${slots.map((s) => `'${s}'`).join(',')}) and active`,
          pw,
        )
      ).trim() === String(slots.length),
    120000,
  );
}

function minioHealthy(t: Topology): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: t.addr.minio, port: t.ports.minio, path: '/minio/health/live', ca: readFileSync(t.caCert), timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** The node whose host runs PgBouncer. */
export const PGBOUNCER_HOST = 'pg3' as const;
/**
 * PgBouncer's second database: the same server reached through HAProxy's write listener, not
 * through the entry pgdr rewrites (PgBouncer in front of HAProxy, to compare the two layouts).
 */
export const VIA_HAPROXY_DB = 'via_haproxy';

/** PgBouncer's files as its host sees them (under <local>). */
function pgbouncerFiles(t: Topology) {
  const dir = join(t.local, 'pgbouncer');
  return { dir, ini: join(dir, 'pgbouncer.ini'), databases: join(dir, 'databases.ini'), userlist: join(dir, 'userlist.txt') };
}

/**
 * Starts PgBouncer on its host unless it runs: files owned by the Postgres OS user (the passwords
 * only in the 0600 auth_file); the [databases] include points at pg1 until a switchover rewrites it.
 */
export async function startPgBouncerOn(t: Topology, host: PgNode = PGBOUNCER_HOST): Promise<void> {
  const f = pgbouncerFiles(t);
  const machine = (p: string) => join(hostDir(t, host), p.slice(t.local.length + 1));
  const ids = asUser(t.pgUser);
  mkdirSync(machine(f.dir), { recursive: true, mode: 0o755 });
  if (ids) chownSync(machine(f.dir), ids.uid, ids.gid);
  const pw = (name: SecretName) => topologySecret(t, name);
  ownedFile(machine(f.userlist), t.pgUser, userlistText({ pgdr: pw('pgdr-password'), postgres: pw('pg-superuser-password') }));
  // pgdr's PgBouncer starts at pg1 and follows the primary; a node-local one (HAProxy in front of
  // PgBouncer) always points at its own host's server.
  const target = host === PGBOUNCER_HOST ? t.addr.pg1 : t.addr[host];
  if (!existsSync(machine(f.databases)))
    ownedFile(machine(f.databases), t.pgUser, databasesLine({ host: target, port: t.ports.pg }), 0o644);
  ownedFile(
    machine(f.ini),
    t.pgUser,
    iniText({
      port: t.ports.pgbouncer,
      dir: f.dir,
      databasesFile: f.databases,
      userlist: f.userlist,
      adminUser: 'pgdr',
      caFile: t.caCert,
      listenAddr: t.addr[host],
      // Another layout, side by side: PgBouncer in front of HAProxy's write listener.
      ...(host === PGBOUNCER_HOST
        ? { extraDatabases: [`${VIA_HAPROXY_DB} = host=${t.addr.ctl1} port=${t.ports.haproxyWrite} dbname=postgres`] }
        : {}),
    }),
    0o644,
  );
  daemonOn(t, host, 'pgbouncer', ['runuser', '-u', t.pgUser, '--', PGBOUNCER_BIN, f.ini], { LANG: 'C', LC_ALL: 'C' });
  await waitFor(`pgbouncer on ${host}`, () => reachable(t.addr[host], t.ports.pgbouncer), 30000, daemonLog(t, host, 'pgbouncer'));
}

/**
 * The nodes that also run a PgBouncer of their own, in front of their own server, for the third
 * layout: HAProxy in front of PgBouncer (the switchover candidates; pg3's PgBouncer is pgdr's).
 */
export const POOLED_NODES = ['pg1', 'pg2'] as const;

/** HAProxy's listener for that layout: writes to the PgBouncer on the primary's host (its agent's GET /primary). */
function pooledListener(t: Topology): string {
  return [
    '',
    '# HAProxy in front of PgBouncer: each switchover candidate runs a PgBouncer for its own server',
    'listen pg-write-pooled',
    `  bind ${t.addr.ctl1}:${t.ports.haproxyPooled}`,
    '  option httpchk GET /primary',
    '  http-check expect status 200',
    '  default-server inter 500ms fastinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions',
    ...POOLED_NODES.map((n) => `  server ${n} ${t.addr[n]}:${t.ports.pgbouncer} check port ${t.ports.health}`),
    '',
  ].join('\n');
}

/** HAProxy's config file (ctl1's state directory, machine's view). */
export const haproxyFile = (t: Topology) => join(hostDir(t, 'ctl1'), 'haproxy.cfg');

export function haproxyPlan(t: Topology): Parameters<typeof haproxyConfig>[0] {
  return {
    bind: t.addr.ctl1,
    writePort: t.ports.haproxyWrite,
    readPort: t.ports.haproxyRead,
    nodes: PG_NODES.map((n) => ({ name: n, host: t.addr[n], port: t.ports.pg, healthPort: t.ports.health })),
  };
}

/** The environment of pgdr's processes on every host. */
function pgdrEnv(t: Topology): NodeJS.ProcessEnv {
  // PGDR_RUN_DIR (port claims): the host's own /run, as on a real host, not the machine's.
  return { PGDR_CONFIG: t.configFile, NODE_EXTRA_CA_CERTS: t.caCert, PGDR_RUN_DIR: join(runDir(t), 'pgdr') };
}

export const READY_LINE = 'pgdr worker polling';

/** Brings the whole topology up (idempotent); `log` hears each step with its time. */
export async function topologyUp(t: Topology, log: (line: string) => void = console.log): Promise<void> {
  const step = async (what: string, fn: () => Promise<unknown>) => {
    const t0 = Date.now();
    await fn();
    log(`hosts: ${what} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  };
  mkdirSync(t.dir, { recursive: true });
  await step('hosts and bridge', () => netUp(t.net));
  for (const h of t.net.hosts) for (const d of ['logs', 'run']) mkdirSync(join(hostDir(t, h.name), d), { recursive: true, mode: 0o755 });
  for (const n of PG_NODES) {
    const ids = asUser(t.pgUser);
    if (ids) chownSync(join(hostDir(t, n), 'logs'), ids.uid, ids.gid);
  }
  const tls = await ensureTopologyTls(t);
  const secrets = ensureSecrets(t.secretsDir, {
    'minio-access-key': t.pgUser,
    'minio-secret-key': t.pgUser,
  });
  const raw = topologyConfig(t, secrets);
  const config = parseConfig(raw, t.configFile);
  writeFileSync(t.configFile, `# generated by the pgdr hosts harness\n${stringify(raw)}`, { mode: 0o644 });
  // The agents and control workers run the compiled package (dist/, the workflow bundle with it).
  await step('pgdr built', () => buildAll());
  await step(`temporal on svc (${t.addr.svc}:${t.ports.temporal})`, async () => {
    mkdirSync(join(hostDir(t, 'svc'), 'temporal'), { recursive: true });
    daemonOn(t, 'svc', 'temporal', [
      findTool('temporal', t.toolsBin),
      // Every address of svc: the dev server's own services dial each other on 127.0.0.1, and
      // svc has only its bridge addresses and loopback.
      ...devServerArgs({
        ip: '0.0.0.0',
        port: t.ports.temporal,
        uiPort: t.ports.temporalUi,
        dbFile: join(t.local, 'temporal', 'temporal.db'),
      }),
    ]);
    await waitFor('temporal on svc', () => reachable(t.addr.svc, t.ports.temporal), 60000, daemonLog(t, 'svc', 'temporal'));
  });
  await step(`minio on svc (https://${t.addr.minio}:${t.ports.minio})`, async () => {
    const certs = join(hostDir(t, 'svc'), 'minio-certs');
    mkdirSync(join(certs, 'CAs'), { recursive: true });
    writeFileSync(join(certs, 'public.crt'), readFileSync(tls.cert));
    writeFileSync(join(certs, 'private.key'), readFileSync(tls.key), { mode: 0o600 });
    writeFileSync(join(certs, 'CAs', 'ca.crt'), readFileSync(t.caCert));
    mkdirSync(join(hostDir(t, 'svc'), 'minio'), { recursive: true });
    daemonOn(
      t,
      'svc',
      'minio',
      [
        findTool('minio', t.toolsBin),
        'server',
        join(t.local, 'minio'),
        '--quiet',
        '--address',
        `${t.addr.minio}:${t.ports.minio}`,
        '--console-address',
        `${t.addr.minio}:${t.ports.minioConsole}`,
        '--certs-dir',
        join(t.local, 'minio-certs'),
      ],
      {
        MINIO_ROOT_USER: secrets['minio-access-key'].value,
        MINIO_ROOT_PASSWORD: secrets['minio-secret-key'].value,
        MINIO_KMS_SECRET_KEY: `${STACK_KMS_KEY_ID}:${secrets['minio-kms-key'].value}`,
        MINIO_UPDATE: 'off',
      },
    );
    await waitFor('minio on svc', () => minioHealthy(t), 60000, daemonLog(t, 'svc', 'minio'));
    const s3 = createS3Client(config.storage, createSecretReader());
    try {
      await ensureBucket(s3, config.storage.bucket);
    } finally {
      s3.destroy();
    }
  });
  await step('postgres on pg1 (primary), pg2 and pg3 (standbys)', () => ensurePostgres(t, tls, secrets, archiveCommands(config, CLUSTER)));
  await step('pgdr agents on pg1-3, control workers on ctl1-2, api on ctl1', async () => {
    await Promise.all([...PG_NODES, ...CONTROL_HOSTS].map((h) => startPgdrOn(t, h)));
    daemonOn(t, 'ctl1', 'api', [join(repoRoot, 'bin', 'pgdr-api')], pgdrEnv(t));
    await waitFor('pgdr api on ctl1', () => reachable(t.addr.ctl1, t.ports.api), 60000, daemonLog(t, 'ctl1', 'api'));
  });
  await step(
    `pgbouncer on ${PGBOUNCER_HOST} (:${t.ports.pgbouncer}), and on ${POOLED_NODES.join(' and ')} for their own servers`,
    async () => {
      for (const n of [PGBOUNCER_HOST, ...POOLED_NODES]) await startPgBouncerOn(t, n);
    },
  );
  await step(`haproxy on ctl1 (writes :${t.ports.haproxyWrite}, reads :${t.ports.haproxyRead})`, async () => {
    writeFileSync(haproxyFile(t), haproxyConfig(haproxyPlan(t)) + pooledListener(t));
    daemonOn(t, 'ctl1', 'haproxy', [findTool('haproxy', t.toolsBin), '-f', haproxyFile(t), '-db']);
    await waitFor('haproxy on ctl1', () => reachable(t.addr.ctl1, t.ports.haproxyWrite), 30000, daemonLog(t, 'ctl1', 'haproxy'));
  });
  log(`hosts: config ${t.configFile}; api http://${t.addr.ctl1}:${t.ports.api}; temporal ui http://${t.addr.svc}:${t.ports.temporalUi}`);
}

/** The pgdr worker a host runs: a node's agent, or a control worker. */
const workerRole = (host: string) => (PG_NODES.includes(host as PgNode) ? 'agent' : 'control');

/**
 * Starts the host's pgdr worker (its node's agent on pg*, a control worker on ctl*) unless it runs,
 * and returns once it polls (a line it logs after this start), or throws with its log's tail if it exits.
 */
export async function startPgdrOn(t: Topology, host: string): Promise<void> {
  const name = workerRole(host);
  const log = daemonLog(t, host, name);
  const from = existsSync(log) ? statSync(log).size : 0;
  const pidFile = join(hostDir(t, host), 'run', `${name}.pid`);
  if (readPid(pidFile)) return;
  const worker = join(repoRoot, 'bin', 'pgdr-worker');
  const args = name === 'agent' ? ['--role', 'agent', '--nodes', `${CLUSTER}/${host}`] : ['--role', 'control'];
  daemonOn(t, host, name, [worker, ...args], pgdrEnv(t));
  const since = () => (existsSync(log) ? readFileSync(log).subarray(from).toString('utf8') : '');
  await waitFor(
    `pgdr ${name} polling on ${host}`,
    async () => {
      if (since().includes(READY_LINE)) return true;
      if (!readPid(pidFile)) throw new GiveUp(`the ${name} on ${host} exited:\n${since().split('\n').slice(-8).join('\n')}`);
      return false;
    },
    120000,
    log,
  );
}

/**
 * Starts a node's Postgres again (after a host loss), unless it answers. A host that returns has
 * none of its old processes; on this one kernel a killed postmaster may linger as a zombie that
 * kill(0) still answers for, and Postgres would refuse its lock files: a lock file whose
 * process has exited is removed first, as a reboot would have left no such process.
 */
export async function startPostgresOn(t: Topology, node: PgNode): Promise<void> {
  if (await reachable(t.addr[node], t.ports.pg)) return;
  // The data directory's pid file and the socket's lock file both name the postmaster.
  for (const lockFile of [
    join(hostDir(t, node), 'pg', node, 'postmaster.pid'),
    join(hostDir(t, node), 'run', 'pg', `.s.PGSQL.${t.ports.pg}.lock`),
  ]) {
    if (!existsSync(lockFile)) continue;
    const pid = Number(readFileSync(lockFile, 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) rmSync(lockFile);
  }
  await pgCtlOn(t, node, 'start');
}

/** SIGKILLs the host's pgdr worker (its pid file's process) and waits until it is gone. */
export async function killPgdrOn(t: Topology, host: string): Promise<number> {
  const pidFile = join(hostDir(t, host), 'run', `${workerRole(host)}.pid`);
  const pid = readPid(pidFile);
  if (!pid) throw new Error(`no pgdr ${workerRole(host)} runs on ${host}`);
  process.kill(pid, 'SIGKILL');
  await waitFor(`pgdr ${workerRole(host)} on ${host} gone`, async () => !readPid(pidFile), 10000);
  return pid;
}

/**
 * Stops everything and removes the hosts: pgdr's processes get SIGTERM and their grace time,
 * Postgres a fast shutdown, then whatever is left in a host is killed and the namespaces and the
 * bridge are deleted. State and logs stay in <dir>/hosts. Safe after any failure.
 */
export async function topologyDown(t: Topology): Promise<string[]> {
  for (const h of ['ctl1', 'ctl2', ...PG_NODES]) {
    for (const name of ['haproxy', 'pgbouncer', 'api', 'control', 'agent'])
      await stopDaemon(join(hostDir(t, h), 'run', `${name}.pid`), `${name} on ${h}`, 20000).catch(() => false);
  }
  for (const n of PG_NODES) {
    if (existsSync(join(hostDir(t, n), 'pg', n, 'postmaster.pid'))) await pgCtlOn(t, n, 'stop').catch(() => undefined);
  }
  await netDown(t.tag);
  return leftovers(t.tag, t.dir);
}

/** The harness's own secrets (API token, superuser password) for tests and a person. */
export function topologySecret(t: Topology, name: SecretName): string {
  return readFileSync(join(t.secretsDir, name), 'utf8').trim();
}
