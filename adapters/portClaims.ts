/**
 * One owner per port on a host. A restored instance's port is claimed before it is named
 * anywhere (the pre-flight, the 202) and kept until the instance is gone: a claim file per port,
 * created with O_EXCL, so two restores choosing at the same moment never get the same port.
 * A bind check alone cannot do that: nothing listens on a chosen port until its server starts.
 *
 * A claim names its holder (the workflow id of the restore) and the data directory whose server
 * will use it. It is stale, and may be taken over, when no server runs in that directory and
 * the holder has closed (finished, failed, cancelled), or is unknown to Temporal for longer than
 * CLAIM_GRACE_MS (a holder that has not shown up in Temporal's visibility yet). A refused restore's claim is stale at once: its run has closed.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { portIsFree, runningPid } from './pgHost.js';

export interface PortClaim {
  port: number;
  /** Workflow id of the restore that owns the port. */
  holder: string;
  /** Data directory whose server gets the port. */
  dataDir: string;
  at: string;
}

/** Where a claim's holder is: running, closed, or absent (not started yet, or never). A guess is "running". */
export type HolderCheck = (holder: string) => Promise<'running' | 'closed' | 'absent'>;

/** How long a claim whose holder Temporal does not know yet is kept (the API starts it after its pre-flight). */
export const CLAIM_GRACE_MS = 10 * 60_000;

/** The host's claim directory: PGDR_RUN_DIR/ports, default /run/pgdr/ports (root) or <tmp>/pgdr-<uid>/ports. */
export function claimsDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  const base = env.PGDR_RUN_DIR ?? (uid === 0 ? '/run/pgdr' : join(tmpdir(), `pgdr-${uid}`));
  return join(base, 'ports');
}

function claimFile(dir: string, port: number): string {
  return join(dir, `${port}.json`);
}

/** The claim on a port, or null. */
export function readClaim(port: number, dir = claimsDir()): PortClaim | null {
  try {
    return JSON.parse(readFileSync(claimFile(dir, port), 'utf8')) as PortClaim;
  } catch {
    return null;
  }
}

/** The running workflow's id when called in an activity, else null. */
export function currentWorkflowId(): string | null {
  try {
    return Context.current().info.workflowExecution?.workflowId ?? null;
  } catch {
    return null;
  }
}

/** Asks Temporal through the worker's client; outside an activity nothing is known: "running". */
export const holderRunsInTemporal: HolderCheck = async (holder) => {
  let client: Context['client'];
  try {
    client = Context.current().client;
  } catch {
    return 'running';
  }
  try {
    const d = await client.workflow.getHandle(holder).describe();
    return d.status.name === 'RUNNING' ? 'running' : 'closed';
  } catch (err) {
    return (err as Error).name === 'WorkflowNotFoundError' ? 'absent' : 'running';
  }
};

async function isStale(claim: PortClaim, holderRuns: HolderCheck): Promise<boolean> {
  // A server running in the claim's directory keeps it only when it runs on the claimed port
  // (a refused request naming a live copy's directory must not pin a port for as long as it runs).
  if (runningPid(claim.dataDir) !== null && serverPort(claim.dataDir) === claim.port) return false;
  const state = await holderRuns(claim.holder);
  if (state === 'running') return false;
  return state === 'closed' || Date.now() - Date.parse(claim.at) > CLAIM_GRACE_MS;
}

/** The port in a running server's postmaster.pid (its fourth line), or null. */
function serverPort(dataDir: string): number | null {
  try {
    return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]) || null;
  } catch {
    return null;
  }
}

/**
 * Claims a port for holder: true when the port is now (or already was) the holder's. A stale
 * claim is taken over; a claim of another live holder is left alone (false).
 */
export async function claimPort(
  port: number,
  owner: { holder: string; dataDir: string },
  holderRuns: HolderCheck = holderRunsInTemporal,
  dir = claimsDir(),
): Promise<boolean> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const claim: PortClaim = { port, holder: owner.holder, dataDir: owner.dataDir, at: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(dir, port, claim)) return true;
    const held = readClaim(port, dir);
    if (held === null) continue; // removed meanwhile
    if (held.holder === owner.holder) {
      // A retried attempt, or the same restore naming another directory: the claim follows it.
      if (held.dataDir !== owner.dataDir) writeFileSync(claimFile(dir, port), JSON.stringify(claim), { mode: 0o644 });
      return true;
    }
    if (!(await isStale(held, holderRuns))) return false;
    takeOver(dir, port, held);
  }
  return false;
}

/** Creates the claim file whole or not at all: written aside, then hard-linked (EEXIST when taken). */
function create(dir: string, port: number, claim: PortClaim): boolean {
  const tmp = join(dir, `.${port}.${process.pid}.${Math.random().toString(36).slice(2)}`);
  writeFileSync(tmp, JSON.stringify(claim), { mode: 0o644 });
  try {
    linkSync(tmp, claimFile(dir, port));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Removes a stale claim, unless another taker replaced it meanwhile: under a per-port lock
 * (O_EXCL, held for a few milliseconds; one older than 30 s was left by a crash), the claim is
 * read again and removed only when it is still the stale one. The caller then creates its own.
 */
function takeOver(dir: string, port: number, stale: PortClaim): void {
  const lock = `${claimFile(dir, port)}.lock`;
  try {
    writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - statSync(lock).mtimeMs > 30_000) rmSync(lock, { force: true });
    } catch {
      // Gone meanwhile.
    }
    return;
  }
  try {
    const now = readClaim(port, dir);
    if (now && now.holder === stale.holder && now.at === stale.at) rmSync(claimFile(dir, port), { force: true });
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * The first port of from..to, skipping `exclude`, that holder could claim and that is free to
 * bind; claimed for holder. Null when there is none.
 */
export async function claimFreePort(
  range: { from: number; to: number },
  owner: { holder: string; dataDir: string },
  exclude: ReadonlySet<number> = new Set(),
  holderRuns: HolderCheck = holderRunsInTemporal,
  dir = claimsDir(),
): Promise<number | null> {
  for (let p = range.from; p <= range.to; p++) {
    if (exclude.has(p)) continue;
    const before = readClaim(p, dir);
    if (!(await claimPort(p, owner, holderRuns, dir))) continue;
    if (await portIsFree(p)) return p;
    // Something else listens there: give the port back unless this holder had it before.
    if (before?.holder !== owner.holder) releasePort(p, owner.holder, dir);
  }
  return null;
}

/** The first port of from..to, skipping `exclude`, that is free to bind and claimed by nobody live (nothing claimed). */
export async function firstUnclaimedFreePort(
  range: { from: number; to: number },
  exclude: ReadonlySet<number> = new Set(),
  holderRuns: HolderCheck = holderRunsInTemporal,
  dir = claimsDir(),
): Promise<number | null> {
  for (let p = range.from; p <= range.to; p++) {
    if (exclude.has(p)) continue;
    const held = readClaim(p, dir);
    if (held && !(await isStale(held, holderRuns))) continue;
    if (await portIsFree(p)) return p;
  }
  return null;
}

/** Gives a port back, only when holder owns it. */
export function releasePort(port: number, holder: string, dir = claimsDir()): boolean {
  const held = readClaim(port, dir);
  if (held?.holder !== holder) return false;
  rmSync(claimFile(dir, port), { force: true });
  return true;
}

/** Gives back every port claimed for a data directory (its instance is gone). */
export function releaseClaimsOf(dataDir: string, dir = claimsDir()): number[] {
  if (!existsSync(dir)) return [];
  const norm = (p: string) => p.replace(/\/+$/, '');
  const released: number[] = [];
  for (const f of readdirSync(dir)) {
    const m = /^(\d+)\.json$/.exec(f);
    if (!m) continue;
    const held = readClaim(Number(m[1]), dir);
    if (held && norm(held.dataDir) === norm(dataDir)) {
      rmSync(join(dir, f), { force: true });
      released.push(held.port);
    }
  }
  return released;
}
