/**
 * The demo Postgres cluster: a primary and one streaming standby on a replication slot, run
 * as an unprivileged OS user, with data checksums, scram-sha-256 auth over TLS only (the stack
 * CA's certificate), and WAL archived to S3 by `pgdr wal push`.
 * Every step is idempotent: an existing data directory is started, never re-initialised.
 */
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
  chownSync,
  chmodSync,
  rmSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { asUser, runTool } from '../../adapters/gateway.js';
import { confString } from '../../domain/pgconf.js';
import { pgdrGrantsSql, requireSupported } from '../../domain/pgVersions.js';
import type { StackLayout } from './layout.js';
import { portOpen, waitFor } from './procs.js';

export interface PgNodePlan {
  name: string;
  port: number;
  dataDir: string;
}

export interface PgClusterPlan {
  cluster: string;
  primary: PgNodePlan;
  standbys: PgNodePlan[];
  socketDir: string;
  logDir: string;
  /** archive_command / restore_command: `pgdr wal push|fetch` for this stack's config. */
  archiveCommands: { archiveCommand: string; restoreCommand: string };
  passfile: string;
  /** More initdb arguments for a new primary (e.g. `--wal-segsize=64`); none by default. */
  initdbArgs?: string[];
}

/** For plans that only name directories and ports (config generation, stopping, psql). */
export const NO_ARCHIVE_COMMANDS = { archiveCommand: '', restoreCommand: '' };

export function demoClusterPlan(layout: StackLayout, archiveCommands: PgClusterPlan['archiveCommands'], cluster = 'demo'): PgClusterPlan {
  const base = join(layout.dir, 'pg', cluster);
  return {
    cluster,
    primary: { name: 'primary', port: layout.ports.pg.primary, dataDir: join(base, 'primary') },
    standbys: [{ name: 'replica', port: layout.ports.pg.replica, dataDir: join(base, 'replica') }],
    socketDir: join(layout.run, 'pg'),
    logDir: join(layout.logs, 'postgres'),
    archiveCommands,
    passfile: join(base, 'pgpass'),
  };
}

/** A directory owned by the Postgres OS user (when we are root). */
function ownedDir(path: string, user: string, mode: number): void {
  mkdirSync(path, { recursive: true, mode });
  chmodSync(path, mode);
  const ids = asUser(user);
  if (ids) chownSync(path, ids.uid, ids.gid);
}

/**
 * A file the OS user owns, with `content`. Replaced whole (written beside, then renamed), and not
 * at all when it already says the same: a server starting meanwhile (another test's, with the
 * same TLS key) must never read it half-written.
 */
export function ownedFile(path: string, user: string, content: string, mode = 0o600): void {
  const ids = asUser(user);
  if (existsSync(path)) {
    const st = statSync(path);
    const same =
      readFileSync(path, 'utf8') === content && (st.mode & 0o777) === mode && (!ids || (st.uid === ids.uid && st.gid === ids.gid));
    if (same) return;
  }
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  if (ids) chownSync(tmp, ids.uid, ids.gid);
  renameSync(tmp, path);
}

/**
 * The stack's Postgres servers present the stack CA's server certificate (localhost,
 * 127.0.0.1), from a copy the Postgres OS user owns: Postgres refuses a key others can read.
 */
export function pgServerTls(layout: StackLayout): { cert: string; key: string; ca: string } {
  const dir = join(layout.dir, 'pg', 'tls');
  return { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(layout.tls, 'ca.crt') };
}

export function ensurePgServerTls(layout: StackLayout): void {
  const files = pgServerTls(layout);
  ownedDir(dirname(files.cert), layout.pgUser, 0o755);
  ownedFile(files.cert, layout.pgUser, readFileSync(join(layout.tls, 'server.crt'), 'utf8'), 0o644);
  ownedFile(files.key, layout.pgUser, readFileSync(join(layout.tls, 'server.key'), 'utf8'), 0o600);
}

/** node-postgres TLS options for the stack's servers (tests and benchmarks connect like pgdr: verify-full). */
export function stackPgSsl(layout: StackLayout): { ca: string; rejectUnauthorized: true } {
  return { ca: readFileSync(pgServerTls(layout).ca, 'utf8'), rejectUnauthorized: true };
}

/** Settings every stack server has: scram, streaming replication with slots, pg_rewind's hints, archiving. */
export const REPLICATION_SETTINGS = [
  `password_encryption = 'scram-sha-256'`,
  `wal_level = replica`,
  `max_wal_senders = 10`,
  `max_replication_slots = 10`,
  `hot_standby = on`,
  `wal_log_hints = on`,
  `archive_mode = on`,
];

/** psql's arguments for a script on stdin, as the superuser over the socket in socketDir. */
export function psqlArgs(socketDir: string, port: number): string[] {
  return ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-At', '-h', socketDir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-f', '-'];
}

function pgConf(layout: StackLayout, plan: PgClusterPlan, port: number): string {
  const tls = pgServerTls(layout);
  return [
    '# written by pgdr stack; included from postgresql.conf',
    `listen_addresses = '127.0.0.1'`,
    // pg_hba.conf has hostssl lines only: every TCP connection is TLS.
    `ssl = on`,
    `ssl_cert_file = ${confString(tls.cert)}`,
    `ssl_key_file = ${confString(tls.key)}`,
    `ssl_min_protocol_version = 'TLSv1.2'`,
    `port = ${port}`,
    `unix_socket_directories = ${confString(plan.socketDir)}`,
    ...REPLICATION_SETTINGS,
    // WAL goes to S3 through pgdr itself, as `pgdr archive enable` would set it.
    `archive_command = ${confString(plan.archiveCommands.archiveCommand)}`,
    `restore_command = ${confString(plan.archiveCommands.restoreCommand)}`,
    `shared_buffers = 128MB`,
    `log_line_prefix = '%m [%p] %q%u@%d '`,
    `log_checkpoints = on`,
    '',
  ].join('\n');
}

/** TCP only over TLS (hostssl): a connection without it matches no line and is refused. */
export const HBA = [
  '# written by pgdr stack',
  'local   all          all                    scram-sha-256',
  'local   replication  all                    scram-sha-256',
  'hostssl all          all        127.0.0.1/32 scram-sha-256',
  'hostssl replication  all        127.0.0.1/32 scram-sha-256',
  '',
].join('\n');

export interface PgSecrets {
  superuserPassword: string;
  pgdrPassword: string;
}

export async function pgCtl(
  layout: StackLayout,
  plan: PgClusterPlan,
  node: PgNodePlan,
  action: 'start' | 'stop' | 'status' | 'reload',
): Promise<boolean> {
  const args = ['-D', node.dataDir, '-w', '-t', '60'];
  if (action === 'start') args.push('-l', join(plan.logDir, `${plan.cluster}-${node.name}.log`), 'start');
  if (action === 'stop') args.push('-m', 'fast', 'stop');
  if (action === 'status') args.push('status');
  if (action === 'reload') args.push('reload');
  try {
    await runTool({ tool: 'pg_ctl', binDir: layout.pgBin, args, osUser: layout.pgUser });
    return true;
  } catch (err) {
    if (action === 'start') throw err;
    return false;
  }
}

/** Runs SQL as the superuser over the Unix socket; the password travels in env, not argv. */
export async function psql(layout: StackLayout, plan: PgClusterPlan, port: number, sql: string, secrets: PgSecrets): Promise<string> {
  const res = await runTool({
    tool: 'psql',
    binDir: layout.pgBin,
    args: psqlArgs(plan.socketDir, port),
    osUser: layout.pgUser,
    env: { PGPASSWORD: secrets.superuserPassword },
    input: sql,
  });
  return res.stdout;
}

/**
 * The passfile the Postgres OS user reads: only the pgdr role's password, only for replication
 * connections to this cluster's nodes (standbys' primary_conninfo, the stack's first
 * pg_basebackup). The superuser's password is never in it: the stack passes it in PGPASSWORD,
 * the worker reads its own from pgdr's secret files.
 */
export function replicationPassfile(plan: PgClusterPlan, pgdrPassword: string): string {
  const escaped = pgdrPassword.replace(/[\\:]/g, '\\$&');
  return [plan.primary, ...plan.standbys].map((n) => `127.0.0.1:${n.port}:replication:pgdr:${escaped}\n`).join('');
}

/** The privileges the pgdr role needs (documented in the README), on a server of `versionNum` (server_version_num). */
export function pgdrRoleSql(password: string, versionNum = 150000): string {
  const quoted = password.replace(/'/g, "''");
  return `
do $$ begin
  if not exists (select from pg_roles where rolname = 'pgdr') then create role pgdr login replication; end if;
end $$;
alter role pgdr with login replication password '${quoted}';
${pgdrGrantsSql(requireSupported('stack', 'the stack server', versionNum))}
-- pg_rewind as pgdr (an old primary rejoining after a switchover).
grant execute on function pg_catalog.pg_ls_dir(text, boolean, boolean), pg_catalog.pg_stat_file(text, boolean),
  pg_catalog.pg_read_binary_file(text), pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) to pgdr;
`;
}

/** The slot a node of the stack streams from (the stack config names the same one). */
export function slotFor(plan: PgClusterPlan, node: PgNodePlan): string {
  return `${plan.cluster}_${node.name}`.replace(/[^a-z0-9_]/g, '_');
}

export async function ensureCluster(layout: StackLayout, plan: PgClusterPlan, secrets: PgSecrets): Promise<void> {
  const user = layout.pgUser;
  ownedDir(join(layout.dir, 'pg'), user, 0o755);
  ownedDir(join(layout.dir, 'pg', plan.cluster), user, 0o700);
  ownedDir(plan.socketDir, user, 0o755);
  ownedDir(plan.logDir, user, 0o755);
  ownedFile(plan.passfile, user, replicationPassfile(plan, secrets.pgdrPassword));
  ensurePgServerTls(layout);

  // 1. Primary: initdb once, with checksums and scram, then our settings and pg_hba.
  const p = plan.primary;
  if (!existsSync(join(p.dataDir, 'PG_VERSION'))) {
    const pwfile = join(layout.dir, 'pg', plan.cluster, '.initdb-pw');
    ownedFile(pwfile, user, `${secrets.superuserPassword}\n`);
    try {
      await runTool({
        tool: 'initdb',
        binDir: layout.pgBin,
        args: [
          '-D',
          p.dataDir,
          '--data-checksums',
          '--auth-local=scram-sha-256',
          '--auth-host=scram-sha-256',
          '-U',
          'postgres',
          `--pwfile=${pwfile}`,
          '--encoding=UTF8',
          '--locale=C',
          ...(plan.initdbArgs ?? []),
        ],
        osUser: user,
      });
    } finally {
      rmSync(pwfile, { force: true });
    }
    // Appending keeps the file's owner (the Postgres OS user).
    appendFileSync(join(p.dataDir, 'postgresql.conf'), "include_if_exists = 'pgdr.conf'\n");
  }
  // Written at every start, so a stack made before TLS gets hostssl lines (a reload applies them).
  ownedFile(join(p.dataDir, 'pg_hba.conf'), user, HBA);
  ownedFile(join(p.dataDir, 'pgdr.conf'), user, pgConf(layout, plan, p.port));
  // A running server re-reads pgdr.conf (archive_command may have changed); a stopped one starts.
  await pgCtl(layout, plan, p, (await portOpen(p.port)) ? 'reload' : 'start');
  await waitFor(`${plan.cluster}/${p.name} on port ${p.port}`, () => portOpen(p.port), 30000);

  // 2. The pgdr role and one physical slot per standby.
  const slots = plan.standbys.map((s) => slotFor(plan, s));
  const versionNum = Number(await psql(layout, plan, p.port, 'show server_version_num', secrets));
  await psql(
    layout,
    plan,
    p.port,
    pgdrRoleSql(secrets.pgdrPassword, versionNum) +
      slots
        .map(
          (s) =>
            `select pg_create_physical_replication_slot('${s}') where not exists (select from pg_replication_slots where slot_name = '${s}');`,
        )
        .join('\n'),
    secrets,
  );

  // 3. Standbys: cloned once from the primary, streaming on their slot.
  for (const s of plan.standbys) {
    if (!existsSync(join(s.dataDir, 'PG_VERSION'))) {
      await runTool({
        tool: 'pg_basebackup',
        binDir: layout.pgBin,
        args: [
          '-h',
          '127.0.0.1',
          '-p',
          String(p.port),
          '-U',
          'pgdr',
          '-D',
          s.dataDir,
          '-X',
          'stream',
          '-S',
          slotFor(plan, s),
          '-R',
          '-c',
          'fast',
          '--no-password',
        ],
        osUser: user,
        // -R writes these into the standby's primary_conninfo: verify-full, like pgdr's own.
        env: { PGPASSFILE: plan.passfile, PGSSLMODE: 'verify-full', PGSSLROOTCERT: pgServerTls(layout).ca },
      });
    }
    ownedFile(join(s.dataDir, 'pg_hba.conf'), user, HBA);
    ownedFile(join(s.dataDir, 'pgdr.conf'), user, pgConf(layout, plan, s.port));
    await pgCtl(layout, plan, s, (await portOpen(s.port)) ? 'reload' : 'start');
    await waitFor(`${plan.cluster}/${s.name} on port ${s.port}`, () => portOpen(s.port), 30000);
  }
  // A standby with restore_command first replays what the archive has, then streams: the
  // stack is ready once every standby streams from the primary.
  if (plan.standbys.length > 0) {
    const slotsSql = slots.map((s) => `'${s}'`).join(',');
    await waitFor(
      `${plan.cluster} standbys streaming`,
      async () =>
        (
          await psql(layout, plan, p.port, `select count(*) from pg_replication_slots where slot_name in (${slotsSql}) and active`, secrets)
        ).trim() === String(slots.length),
      120000,
    );
  }
}

export async function stopCluster(layout: StackLayout, plan: PgClusterPlan): Promise<void> {
  for (const node of [...plan.standbys, plan.primary]) {
    if (existsSync(join(node.dataDir, 'postmaster.pid'))) await pgCtl(layout, plan, node, 'stop');
  }
}
