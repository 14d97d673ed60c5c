/**
 * A real PgBouncer (transaction pooling, scram-sha-256) in front of a Postgres server, for
 * tests and benchmarks of pgdr's switchover. Its [databases] section only %includes
 * databasesFile, which pgdr rewrites to the new primary before RELOAD on the admin console.
 * Runs as the Postgres OS user; files live under <stack>/pgbouncer/<name>.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { asUser } from '../../adapters/gateway.js';
import type { StackLayout } from './layout.js';
import { pgServerTls, type PgSecrets } from './postgres.js';
import { freePort, isAlive, portOpen, sleep } from './procs.js';

export const PGBOUNCER_BIN = '/usr/sbin/pgbouncer';
const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 10_000;

export interface PgBouncerHandle {
  host: string;
  port: number;
  /** %include-d in [databases]: `* = host=<host> port=<port>`; rewrite it, then RELOAD. */
  databasesFile: string;
  iniFile: string;
  /** In admin_users: connect to database `pgbouncer` for PAUSE, RESUME, RELOAD, SHOW. */
  adminUser: string;
  stop(): Promise<void>;
}

/** Whether pid is a live process (zombies are not): procs.ts's isAlive. */
export const processRunning = isAlive;

function owned(path: string, user: string, mode: number, content?: string): void {
  if (content === undefined) mkdirSync(path, { recursive: true, mode });
  else writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  const ids = asUser(user);
  if (ids) chownSync(path, ids.uid, ids.gid);
}

/** The one line of databasesFile: every database name goes to target. */
export function databasesLine(target: { host: string; port: number }): string {
  return `* = host=${target.host} port=${target.port}\n`;
}

/** pgbouncer.ini: transaction pooling, scram, TLS to the servers (verify-full), [databases] only an %include. */
export function iniText(o: {
  port: number;
  dir: string;
  databasesFile: string;
  userlist: string;
  adminUser: string;
  caFile: string;
  /** @default '127.0.0.1' */
  listenAddr?: string;
  /** `name = host=... port=... dbname=...` entries beside the include, which pgdr never rewrites. */
  extraDatabases?: string[];
}): string {
  return [
    '; written by pgdr (dev stack or hosts harness)',
    '[databases]',
    ...(o.extraDatabases ?? []),
    // The include is pgdr's: it rewrites that file on switchover and sends RELOAD.
    `%include ${o.databasesFile}`,
    '',
    '[pgbouncer]',
    `listen_addr = ${o.listenAddr ?? '127.0.0.1'}`,
    `listen_port = ${o.port}`,
    `unix_socket_dir = ${o.dir}`,
    'pool_mode = transaction',
    'auth_type = scram-sha-256',
    `auth_file = ${o.userlist}`,
    `admin_users = ${o.adminUser}`,
    'max_client_conn = 200',
    'default_pool_size = 20',
    // Nothing to reset between transactions in transaction pooling.
    'server_reset_query =',
    // pgbench and JDBC send it; PgBouncer would refuse the login otherwise.
    'ignore_startup_parameters = extra_float_digits',
    // A failed server login (e.g. the old primary going down) would otherwise hold off new
    // server connections for 15 s, which a switchover benchmark would measure as downtime.
    'server_login_retry = 1',
    // The stack's servers take TLS only: PgBouncer verifies them as pgdr does.
    'server_tls_sslmode = verify-full',
    `server_tls_ca_file = ${o.caFile}`,
    '',
  ].join('\n');
}

/** "user" "password" lines; a double quote inside is doubled. */
export function userlistText(users: Record<string, string>): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return Object.entries(users)
    .map(([u, p]) => `${q(u)} ${q(p)}\n`)
    .join('');
}

/** Ends a PgBouncer left over from an earlier run of the same name (its pid file, its ini). */
async function stopLeftover(pidFile: string, iniFile: string): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    /* gone */
  }
  if (Number.isInteger(pid) && pid > 0 && cmdline.includes(iniFile) && processRunning(pid)) await terminate(pid, 'leftover pgbouncer');
  rmSync(pidFile, { force: true });
}

async function terminate(pid: number, what: string, port?: number): Promise<void> {
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  };
  // SIGTERM is PgBouncer 1.18's immediate shutdown (SIGINT would wait for every client).
  kill('SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  const up = async () => processRunning(pid) || (port !== undefined && (await portOpen(port)));
  while ((await up()) && Date.now() < deadline) await sleep(50);
  if (processRunning(pid)) {
    kill('SIGKILL');
    while (processRunning(pid) && Date.now() < deadline + 5000) await sleep(50);
  }
  if (processRunning(pid)) throw new Error(`${what} (pid ${pid}) is still running ${STOP_GRACE_MS + 5000} ms after SIGTERM and SIGKILL`);
  if (port !== undefined && (await portOpen(port)))
    throw new Error(`port ${port} is still open after ${what} (pid ${pid}) exited\nHINT: another process listens there`);
}

function logTail(logFile: string): string {
  return existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n') : '';
}

export async function startPgBouncer(
  layout: StackLayout,
  opts: { name: string; target: { host: string; port: number }; secrets: PgSecrets; port?: number },
): Promise<PgBouncerHandle> {
  const user = layout.pgUser;
  const adminUser = 'pgdr';
  const dir = join(layout.dir, 'pgbouncer', opts.name);
  const iniFile = join(dir, 'pgbouncer.ini');
  const databasesFile = join(dir, 'databases.ini');
  const userlist = join(dir, 'userlist.txt');
  const pidFile = join(dir, 'pgbouncer.pid');
  const logFile = join(dir, 'pgbouncer.log');

  // 1. A PgBouncer of the same name from an earlier run would read the files we rewrite.
  await stopLeftover(pidFile, iniFile);

  // 2. Files, owned by the Postgres OS user; passwords only in the 0600 auth_file.
  const port = opts.port ?? (await freePort());
  if (await portOpen(port)) throw new Error(`port ${port} for pgbouncer "${opts.name}" is taken by another process`);
  owned(join(layout.dir, 'pgbouncer'), user, 0o755);
  owned(dir, user, 0o755);
  owned(userlist, user, 0o600, userlistText({ pgdr: opts.secrets.pgdrPassword, postgres: opts.secrets.superuserPassword }));
  owned(databasesFile, user, 0o644, databasesLine(opts.target));
  owned(iniFile, user, 0o644, iniText({ port, dir, databasesFile, userlist, adminUser, caFile: pgServerTls(layout).ca }));

  // 3. Start in the foreground of its own process group (no -d: we keep the real pid), logging
  // to stderr, which goes to logFile.
  const ids = asUser(user);
  const out = openSync(logFile, 'a');
  const child = spawn(PGBOUNCER_BIN, [iniFile], {
    detached: true,
    stdio: ['ignore', out, out],
    cwd: dir,
    env: { ...process.env, LANG: 'C', LC_ALL: 'C' },
    ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
  });
  closeSync(out);
  const pid = child.pid;
  if (!pid) throw new Error(`could not start ${PGBOUNCER_BIN} for pgbouncer "${opts.name}"`);
  child.unref();
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `exit code ${code}`));
  writeFileSync(pidFile, `${pid}\n`);

  // 4. Ready when it listens; a config error ends the process, which we report with the log.
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await portOpen(port))) {
    if (exited || !processRunning(pid)) {
      rmSync(pidFile, { force: true });
      throw new Error(
        `pgbouncer "${opts.name}" exited before listening on port ${port} (${exited ?? 'gone'})\n--- last lines of ${logFile} ---\n${logTail(logFile)}`,
      );
    }
    if (Date.now() > deadline) {
      await terminate(pid, `pgbouncer "${opts.name}"`);
      throw new Error(
        `timed out after ${START_TIMEOUT_MS} ms waiting for pgbouncer "${opts.name}" on port ${port}\n--- last lines of ${logFile} ---\n${logTail(logFile)}`,
      );
    }
    await sleep(50);
  }

  return {
    host: '127.0.0.1',
    port,
    databasesFile,
    iniFile,
    adminUser,
    async stop() {
      await terminate(pid, `pgbouncer "${opts.name}"`, port);
      rmSync(pidFile, { force: true });
    },
  };
}
