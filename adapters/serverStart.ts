/**
 * The one way pgdr starts a Postgres server on a node's host (restore, drill, rebuild, rejoin,
 * the restart of a replaced server).
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
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { PortUnavailableError, ToolFailedError } from '../domain/errors.js';
import { runTool } from './gateway.js';
import { every } from './progress.js';
import { runningPid } from './pgHost.js';

export interface ServerStartRequest {
  /** For messages: the node whose host runs the server. */
  node: string;
  binDir: string;
  dataDir: string;
  osUser: string;
  /** pg_ctl -l: the server log (appended to). */
  logFile: string;
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
  const logFrom = sizeOf(req.logFile);
  const timeout = req.timeoutSeconds ?? 300;
  const stop = req.onWait ? every(2000, req.onWait) : () => undefined;
  let failure: ToolFailedError | null = null;
  try {
    await runTool({
      tool: 'pg_ctl',
      binDir: req.binDir,
      args: ['-D', req.dataDir, '-l', req.logFile, '-w', '-t', String(timeout), 'start'],
      osUser: req.osUser,
      signal: req.signal,
    });
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
  const log = readFrom(req.logFile, logFrom);
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
