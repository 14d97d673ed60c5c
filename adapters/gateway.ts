/**
 * The one gateway through which pgdr runs external tools (pg_ctl, pg_basebackup, pgbackrest, ...).
 *
 * - LANG=C / LC_ALL=C so stderr can be parsed on purpose;
 * - secrets travel in env (PGPASSWORD, PGBACKREST_*) or files, never argv;
 * - the caller's AbortSignal kills the process (SIGTERM, then SIGKILL after a grace period);
 * - when running as root, the tool runs as the node's unprivileged OS user (Postgres refuses root),
 *   spawned with that uid/gid directly so signals reach it;
 * - a failure throws ToolFailedError with the exit code and the tail of stderr.
 */
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { execa, type ResultPromise } from 'execa';
import { ToolFailedError, ToolNotFoundError } from '../domain/errors.js';

export interface ToolRequest {
  /** Tool name, e.g. "pg_ctl"; resolved in binDir when given, else on PATH. */
  tool: string;
  args: string[];
  binDir?: string;
  /** Run as this OS user when the worker runs as root. */
  osUser?: string;
  /** Extra environment, e.g. PGPASSWORD. Never put secrets in args. */
  env?: Record<string, string>;
  cwd?: string;
  /** Cancels the tool; pass the activity's cancellationSignal. */
  signal?: AbortSignal;
  /** Bytes written to stdin, or a stream piped to it. */
  input?: string;
  /** Called for every stderr line, e.g. to parse progress. */
  onStderrLine?: (line: string) => void;
  /** Wall-clock limit in ms; the tool is killed past it. */
  timeoutMs?: number;
  /** The caller consumes stdout as a stream (e.g. a backup): do not buffer it in memory. */
  streamStdout?: boolean;
  /** The tool's stdout goes to this open file descriptor (a pipe the caller reads; see pipeReader.ts). */
  stdoutFd?: number;
}

export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const STDERR_TAIL_CHARS = 2000;
const KILL_GRACE_MS = 5000;

/** Where a tool lives: binDir/tool when binDir is given, else the bare name for PATH lookup. */
export function resolveTool(tool: string, binDir?: string): string {
  if (!binDir) return tool;
  const path = join(binDir, tool);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new ToolNotFoundError(tool, path);
  }
  return path;
}

const idCache = new Map<string, { uid: number; gid: number; home: string }>();

/**
 * The uid/gid to run a tool with: osUser's when the worker is root, else our own (undefined).
 * The tool is spawned with them directly (no runuser/sudo in between), so a cancel signal
 * reaches the tool itself and nothing is left running.
 */
export function asUser(osUser: string | undefined): { uid: number; gid: number; home: string } | undefined {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || !osUser || osUser === 'root') return undefined;
  let ids = idCache.get(osUser);
  if (!ids) {
    const line = execFileSync('getent', ['passwd', osUser]).toString().trim().split(':');
    if (line.length < 7) throw new Error(`os user "${osUser}" not found`);
    ids = { uid: Number(line[2]), gid: Number(line[3]), home: line[5]! };
    idCache.set(osUser, ids);
  }
  return ids;
}

/**
 * Starts a tool and returns the execa process, for callers that stream stdout. Synchronous on
 * purpose: an async function would await the (thenable) process instead of returning it.
 */
export function spawnTool(req: ToolRequest): ResultPromise {
  const file = resolveTool(req.tool, req.binDir);
  const user = asUser(req.osUser);
  const env = { LANG: 'C', LC_ALL: 'C', ...(user ? { HOME: user.home, USER: req.osUser, LOGNAME: req.osUser } : {}), ...req.env };
  return execa(file, req.args, {
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
    env,
    extendEnv: true,
    cwd: req.cwd,
    cancelSignal: req.signal,
    forceKillAfterDelay: KILL_GRACE_MS,
    timeout: req.timeoutMs,
    input: req.input,
    // Any open descriptor works at run time; execa's types list only 0-9 for stdout.
    ...(req.stdoutFd !== undefined ? { stdout: req.stdoutFd as 3 } : {}),
    reject: false,
    buffer: { stdout: !req.streamStdout, stderr: true },
    stripFinalNewline: true,
    maxBuffer: { stdout: 64 * 1024 * 1024, stderr: 16 * 1024 * 1024 },
  });
}

/** Runs a tool to completion; throws ToolFailedError on a non-zero exit. */
export async function runTool(req: ToolRequest): Promise<ToolResult> {
  const proc = spawnTool(req);
  if (req.onStderrLine && proc.stderr) {
    let pending = '';
    proc.stderr.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split(/\r?\n|\r/);
      pending = lines.pop() ?? '';
      for (const line of lines) req.onStderrLine?.(line);
    });
  }
  const result = await proc;
  return checkResult(req.tool, result);
}

/** Turns an execa result into ToolResult or a ToolFailedError carrying exit code and stderr tail. */
export function checkResult(
  tool: string,
  result: {
    exitCode?: number;
    signal?: string;
    stdout?: unknown;
    stderr?: unknown;
    isCanceled?: boolean;
    timedOut?: boolean;
    failed?: boolean;
  },
): ToolResult {
  const stderr = String(result.stderr ?? '');
  const stdout = String(result.stdout ?? '');
  if (result.failed || result.exitCode !== 0) {
    const why = result.isCanceled ? ' (cancelled)' : result.timedOut ? ' (timed out)' : '';
    throw new ToolFailedError(tool + why, result.exitCode ?? null, stderr.slice(-STDERR_TAIL_CHARS), result.signal ?? undefined);
  }
  return { stdout, stderr, exitCode: 0 };
}

/**
 * Pipes bytes through a filter tool (e.g. `zstd -c`) and returns its output as bytes. For
 * small payloads such as one WAL segment; large streams use spawnTool with streamStdout.
 */
export async function runFilter(
  tool: string,
  args: string[],
  input: Uint8Array,
  binDir?: string,
  /** Extra environment (secrets go here, never in args). */
  env: Record<string, string> = {},
): Promise<Buffer> {
  const file = resolveTool(tool, binDir);
  const result = await execa(file, args, {
    env: { LANG: 'C', LC_ALL: 'C', ...env },
    input,
    encoding: 'buffer',
    reject: false,
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.failed || result.exitCode !== 0) {
    throw new ToolFailedError(
      tool,
      result.exitCode ?? null,
      Buffer.from(result.stderr).toString('utf8').slice(-STDERR_TAIL_CHARS),
      result.signal ?? undefined,
    );
  }
  return Buffer.from(result.stdout);
}
