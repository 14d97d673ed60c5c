/**
 * Restored copies the dev stack's restores left running: a postmaster whose data directory
 * lies under the stack's directory (anywhere: the restore dir, a test server's restores, even
 * inside a node's data directory) and carries a `# pgdr restore <workflowId>` marker. The
 * stack's own nodes carry no marker and are never touched here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { markerWorkflowId } from '../../domain/restoredCopy.js';
import { runTool } from '../../adapters/gateway.js';
import { runningPid } from '../../adapters/pgHost.js';
import type { StackLayout } from './layout.js';

export interface LiveCopy {
  dataDir: string;
  pid: number;
  port: number | null;
  /** The restore that made it (its marker). */
  workflowId: string;
}

/** The data directory a postmaster was started with (`postgres -D <dir>`), from /proc. */
function postmasterDataDir(pid: string): string | null {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return null;
  }
  if (!/(^|\/)postgres$/.test(argv[0] ?? '')) return null;
  const i = argv.indexOf('-D');
  return i >= 0 && argv[i + 1] ? resolve(argv[i + 1]!) : null;
}

/** Every running restored copy whose data directory lies under the stack's directory. */
export function liveRestoredCopies(layout: Pick<StackLayout, 'dir'>): LiveCopy[] {
  const root = resolve(layout.dir) + sep;
  const out: LiveCopy[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    const dataDir = postmasterDataDir(pid);
    if (!dataDir || !dataDir.startsWith(root) || out.some((c) => c.dataDir === dataDir)) continue;
    let workflowId: string | null = null;
    let pidFile: string[] = [];
    try {
      workflowId = markerWorkflowId(readFileSync(`${dataDir}/postgresql.auto.conf`, 'utf8'));
      pidFile = readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n');
    } catch {
      continue;
    }
    // The postmaster of that directory (not a stale pid file), and a copy pgdr restored.
    if (!workflowId || runningPid(dataDir) !== Number(pid)) continue;
    out.push({ dataDir, pid: Number(pid), port: Number(pidFile[3]) || null, workflowId });
  }
  return out.sort((a, b) => a.dataDir.localeCompare(b.dataDir));
}

/** Stops every running restored copy of the stack (pg_ctl -m fast, as the Postgres OS user). */
export async function stopRestoredCopies(layout: Pick<StackLayout, 'dir' | 'pgBin' | 'pgUser'>): Promise<LiveCopy[]> {
  const copies = liveRestoredCopies(layout);
  for (const c of copies) {
    await runTool({
      tool: 'pg_ctl',
      binDir: layout.pgBin,
      args: ['-D', c.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'],
      osUser: layout.pgUser,
    });
  }
  return copies;
}
