/**
 * The one way pgdr starts (and stops) a Postgres server on a node's host (restore, drill,
 * rebuild, rejoin, the restart of a replaced server): pg_ctl, or a node's own manager
 * (pg_ctlcluster, systemctl; domain/serverManager.ts).
 *
 * `pg_ctl -w` knows the postmaster it forked and follows that very process through startup: it
 * reports a start as failed only when that process has exited, and as done once postmaster.pid
 * says the server is ready (or is a standby in recovery). pgdr judged a server dead by a
 * missing postmaster.pid right after `pg_ctl -W`, and on a loaded host the postmaster had not
 * written it yet: a server that was starting fine was reported as exited, with an empty log.
 *
 * A server that cannot bind its port exits at once; that is its own error (PortUnavailableError),
 * found in the log lines this start appended, never in an older attempt's.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PortUnavailableError, ServerManagerMismatchError, ServerManagerUnsuitableError, ToolFailedError } from '../domain/errors.js';
import {
  debianConfDir,
  debianDataDirectory,
  describeManager,
  startCommand,
  startLogFile,
  stopCommand,
  type ManagedCommand,
  type ServerManager,
} from '../domain/serverManager.js';
import { runTool } from './gateway.js';
import { canonicalPath } from './hostPaths.js';
import { every } from './progress.js';
import { runningPid } from './pgHost.js';

export interface ServerStartRequest {
  /** For messages: the node whose host runs the server. */
  node: string;
  binDir: string;
  dataDir: string;
  osUser: string;
  /** pg_ctl -l: the server log (appended to); a managed server's log is where its manager keeps it. */
  logFile: string;
  /** How the server is run: pg_ctl on dataDir (the default), or the node's own manager. */
  manager?: ServerManager;
  /** The port the server is configured for, for messages. */
  port?: number;
  /**
   * How long pg_ctl waits for the server to be ready or in recovery (pg_ctl -t). A server still
   * starting after that is alive, not failed: the caller follows it.
   * @default 300
   */
  timeoutSeconds?: number;
  signal?: AbortSignal;
  /** Called every 2 s while pg_ctl waits (an activity's heartbeat). */
  onWait?: () => void;
}

export type ServerStartOutcome =
  /** Ready, or in recovery (a standby, a restore replaying WAL). */
  | { state: 'running'; pid: number }
  /** Still starting after timeoutSeconds, and alive. */
  | { state: 'starting'; pid: number }
  /** The postmaster exited during startup; `reason` is the log's (FATAL lines, then the tail). */
  | { state: 'exited'; reason: string };

/** Log lines of a server that could not bind its port (TCP, or the Unix socket's lock of the same port). */
const BIND_FAILURE =
  /could not create any TCP\/IP sockets|could not bind IPv[46] address .*Address already in use|lock file "[^"]*\.s\.PGSQL\.\d+\.lock" already exists/;

/** Starts the server in dataDir and waits, following its postmaster, until it runs or has exited. */
export async function startPostgres(req: ServerStartRequest): Promise<ServerStartOutcome> {
  const already = runningPid(req.dataDir);
  if (already !== null) return { state: 'running', pid: already };
  const manager = req.manager ?? { kind: 'pg_ctl' };
  checkManagedDataDir(req.node, manager, req.dataDir);
  const logFile = startLogFile(manager, req.logFile, manager.kind === 'pg_ctlcluster' ? debianLogLink(manager) : null);
  const logFrom = logFile ? sizeOf(logFile) : 0;
  const timeout = req.timeoutSeconds ?? 300;
  const stop = req.onWait ? every(2000, req.onWait) : () => undefined;
  let failure: ToolFailedError | null = null;
  try {
    await runManaged(startCommand(manager, { dataDir: req.dataDir, logFile: req.logFile, timeoutSeconds: timeout }), req);
  } catch (err) {
    if (!(err instanceof ToolFailedError)) throw err;
    failure = err;
  } finally {
    stop();
  }
  // pg_ctl succeeded: postmaster.pid is written and names the live postmaster. It failed: either
  // the postmaster exited (pg_ctl saw its own child go) or it is still starting at the timeout.
  const pid = runningPid(req.dataDir);
  if (pid !== null) return { state: failure ? 'starting' : 'running', pid };
  const log = logFile ? readFrom(logFile, logFrom) : '';
  const bind = log.split('\n').find((l) => BIND_FAILURE.test(l));
  if (bind)
    throw new PortUnavailableError(
      req.node,
      req.dataDir,
      req.port ?? portInLog(log) ?? 0,
      bind.replace(/^.*?(LOG|FATAL|WARNING):\s*/, '').trim(),
    );
  // (Started, then gone already: e.g. recovery ended before its target. The log says why.)
  return { state: 'exited', reason: reasonOf(log, String(failure?.context.stderrTail ?? '')) };
}

export interface ServerStopRequest {
  /** For messages: the node whose host runs the server. */
  node: string;
  binDir: string;
  dataDir: string;
  osUser: string;
  manager?: ServerManager;
  mode: 'fast' | 'immediate';
  /** false: ask and return at once (pg_ctl -W); the caller watches postmaster.pid. */
  wait: boolean;
  timeoutSeconds: number;
  signal?: AbortSignal;
}

/** Stops the server in dataDir through its manager (pg_ctl by default). */
export async function stopPostgres(req: ServerStopRequest): Promise<void> {
  const manager = req.manager ?? { kind: 'pg_ctl' };
  checkManagedDataDir(req.node, manager, req.dataDir);
  await runManaged(stopCommand(manager, req), req);
  // pg_ctl waits itself (-w); systemctl kill does not, and a unit's stop may outlast our timeout.
  if (manager.kind === 'systemctl' && req.wait) {
    const deadline = Date.now() + req.timeoutSeconds * 1000;
    while (runningPid(req.dataDir) !== null) {
      if (Date.now() > deadline)
        throw new Error(
          `${describeManager(manager)}: the server in ${req.dataDir} still runs ${req.timeoutSeconds} s after the ${req.mode} stop`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function runManaged(cmd: ManagedCommand, req: { binDir: string; osUser: string; signal?: AbortSignal }) {
  return runTool({
    tool: cmd.tool,
    ...(cmd.inBinDir ? { binDir: req.binDir } : {}),
    args: cmd.args,
    ...(cmd.asOsUser ? { osUser: req.osUser } : {}),
    ...(req.signal ? { signal: req.signal } : {}),
  });
}

/**
 * A pg_ctlcluster cluster must run the very directory pgdr works on: its data_directory (in
 * /etc/postgresql/<version>/<name>/postgresql.conf) is the node's dataDir, or nothing runs.
 */
function checkManagedDataDir(node: string, m: ServerManager, dataDir: string): void {
  // A Debian unit (postgresql@<version>-<name>) runs that cluster: the same data directory check.
  const unit = m.kind === 'systemctl' ? /^postgresql@(\d+)-(.+)$/.exec(m.unit) : null;
  if (unit) return checkDebianDataDir(node, m, { version: unit[1]!, name: unit[2]! }, dataDir);
  if (m.kind !== 'pg_ctlcluster') return;
  // Run as the cluster's owner, pg_ctlcluster goes around systemd: the unit would show failed
  // and no longer stop the server when the host shuts down.
  if (existsSync(SYSTEMD_RUNNING))
    throw new ServerManagerUnsuitableError(
      node,
      describeManager(m),
      `systemd runs on this host (${SYSTEMD_RUNNING}) and manages Debian clusters as postgresql@${m.version}-${m.name}`,
      `systemctl postgresql@${m.version}-${m.name}`,
    );
  checkDebianDataDir(node, m, m, dataDir);
}

function checkDebianDataDir(node: string, m: ServerManager, cluster: { version: string; name: string }, dataDir: string): void {
  const conf = join(debianConfDir(cluster), 'postgresql.conf');
  let text: string;
  try {
    text = readFileSync(conf, 'utf8');
  } catch (err) {
    throw new ServerManagerMismatchError(
      node,
      describeManager(m),
      dataDir,
      `unknown (${conf}: ${(err as NodeJS.ErrnoException).code ?? err})`,
    );
  }
  const managed = debianDataDirectory(cluster, text);
  if (canonicalPath(managed) !== canonicalPath(dataDir)) throw new ServerManagerMismatchError(node, describeManager(m), dataDir, managed);
}

/** Exists while systemd is the init system (sd_booted(3)). */
const SYSTEMD_RUNNING = '/run/systemd/system';

/** postgresql-common's per-cluster `log` symlink, when the cluster has one (else its default path is used). */
function debianLogLink(m: { version: string; name: string }): string | null {
  try {
    return realpathSync(join(debianConfDir(m), 'log'));
  } catch {
    return null;
  }
}

function portInLog(log: string): number | null {
  const m = /on port (\d+)\?|\.s\.PGSQL\.(\d+)\.lock/.exec(log);
  return m ? Number(m[1] ?? m[2]) : null;
}

/** The FATAL/PANIC lines of this start, then the last lines; pg_ctl's own words when the log is empty. */
function reasonOf(log: string, pgCtlStderr: string): string {
  const lines = log.trim().split('\n').filter(Boolean);
  const fatal = lines.filter((l) => /\b(FATAL|PANIC):/.test(l)).slice(-2);
  const tail = lines.slice(-3).filter((l) => !fatal.includes(l));
  const said = [...fatal, ...tail].join(' | ');
  return said || `(the log is empty) pg_ctl: ${pgCtlStderr.trim().split('\n').slice(-2).join(' ') || 'no output'}`;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function readFrom(file: string, offset: number): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = statSync(file).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
    readSync(fd, buf, 0, buf.length, Math.max(offset, size - buf.length));
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
