/**
 * Host primitives about a Postgres data directory and its port: is a server running there (by
 * postmaster.pid, zombies excluded), is a TCP port free on this host.
 */
import { chownSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { asUser } from './gateway.js';

/** The pid in postmaster.pid when that process is alive. */
export function runningPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (!pid) return null;
    process.kill(pid, 0);
    // A dead server whose parent never reaps it (e.g. PID 1 in a container) is a zombie: not running.
    return isZombie(pid) ? null : pid;
  } catch {
    return null;
  }
}

function isZombie(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

/** Hands a path to the OS user Postgres runs as. */
export function own(path: string, osUser: string): void {
  const ids = asUser(osUser);
  if (ids) chownSync(path, ids.uid, ids.gid);
}

/** Empties a directory the restore owns (a retried fetch starts from nothing); never a live server's. */
export function emptyDir(dir: string): void {
  const pid = runningPid(dir);
  if (pid !== null) throw new Error(`refusing to empty ${dir}: a server (pid ${pid}) runs in it`);
  for (const e of readdirSync(dir)) rmSync(join(dir, e), { recursive: true, force: true });
}
