/** Small process helpers for the dev stack: detached daemons with pid files, waits, probes. */
import { spawn } from 'node:child_process';
import { chmodSync, openSync, readFileSync, writeFileSync, existsSync, rmSync, accessSync, constants } from 'node:fs';
import { tcpCheck } from '../../adapters/net.js';
import { join, delimiter } from 'node:path';

/**
 * Whether pid is a live process. kill(0) is not enough: this machine's PID 1 does not reap
 * orphans at once, so a process that died after its parent stays a zombie (State Z) a while.
 */
export function isAlive(pid: number): boolean {
  try {
    const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** Starts a long-running process in its own process group, logging to logFile (mode 0600: logs name hosts, users and requests). */
export function startDaemon(opts: {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  logFile: string;
  pidFile: string;
  cwd?: string;
}): number {
  const out = openSync(opts.logFile, 'a', 0o600);
  // A log an older stack created keeps its mode on open: tighten it.
  chmodSync(opts.logFile, 0o600);
  const child = spawn(opts.cmd, opts.args, {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...opts.env },
    cwd: opts.cwd,
  });
  if (!child.pid) throw new Error(`could not start ${opts.cmd}`);
  child.unref();
  writeFileSync(opts.pidFile, `${child.pid}\n`);
  return child.pid;
}

/** SIGTERM the daemon's process group, wait, then SIGKILL what is left. */
export async function stopDaemon(pidFile: string, name: string, graceMs = 15000): Promise<boolean> {
  const pid = readPid(pidFile);
  if (!pid) {
    rmSync(pidFile, { force: true });
    return false;
  }
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    console.error(`stack: ${name} did not stop within ${graceMs} ms; killing it`);
    signal('SIGKILL');
    await sleep(200);
  }
  rmSync(pidFile, { force: true });
  return true;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Thrown by a waitFor check that knows waiting longer cannot help (the process it waits for died). */
export class GiveUp extends Error {}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, logFile?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    await sleep(250);
  }
  const tail =
    logFile && existsSync(logFile)
      ? `\n--- last lines of ${logFile} ---\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`
      : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}${tail}`);
}

export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return (await tcpCheck(host, port, 1000)).ok;
}

/** A tool on PATH first (the user's own install wins), else in pgdr's tool cache. */
export function findTool(name: string, cacheBin: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), cacheBin]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      /* next */
    }
  }
  throw new Error(`${name} not found on PATH or in ${cacheBin}\nHINT: run npm run bootstrap`);
}

export { freePort } from '../../adapters/net.js';
