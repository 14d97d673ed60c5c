/**
 * Restored copies on a node's host (node agent): what is at a finished restore's directory,
 * and dropping a copy pgdr made (stop, then remove), refusing anything else.
 */
import { removeCopyTablespaces } from './restoreTablespaces.js';
import { canonicalPath, overlapsWithLive } from '../../adapters/hostPaths.js';
import { releaseClaimsOf } from '../../adapters/portClaims.js';
import { hostname } from 'node:os';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RestoreDropRefusedError } from '../../domain/errors.js';
import { dropProblemsFromFacts, dropProblemsFromReport, markerWorkflowId, type CopyFacts } from '../../domain/restoredCopy.js';
import { droppingDir } from '../../domain/naming.js';
import type { PgdrConfig } from '../../config/schema.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { runTool } from '../../adapters/gateway.js';
import { runningPid } from '../../adapters/pgHost.js';

export interface CopyDeps {
  config: PgdrConfig;
}

/** The data directory of every configured node of the cluster. */
export function nodeDataDirs(config: PgdrConfig, cluster: string): Record<string, string> {
  return Object.fromEntries(Object.entries(clusterOf(config, cluster).nodes).map(([name, n]) => [name, n.dataDir]));
}

/** The port in postmaster.pid (its fourth line). */
function pidFilePort(dataDir: string): number | null {
  try {
    return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[3]) || null;
  } catch {
    return null;
  }
}

/** What is at one directory: data or not, whose restore marker, a live server and its port. */
export function copyFacts(dataDir: string): CopyFacts {
  const entries = existsSync(dataDir) && statSync(dataDir).isDirectory() ? readdirSync(dataDir) : existsSync(dataDir) ? ['(a file)'] : [];
  if (entries.length === 0) return { dataDir, contents: 'absent', markerWorkflowId: null, pid: null, port: null };
  let marker: string | null = null;
  try {
    marker = markerWorkflowId(readFileSync(join(dataDir, 'postgresql.auto.conf'), 'utf8'));
  } catch {
    // No postgresql.auto.conf: not a copy pgdr restored.
  }
  const pid = entries.includes('PG_VERSION') ? runningPid(dataDir) : null;
  return {
    dataDir,
    contents: entries.includes('PG_VERSION') ? 'pgData' : 'files',
    markerWorkflowId: marker,
    pid,
    port: pid === null ? null : pidFilePort(dataDir),
  };
}

/** Node agent, read-only: the facts of each directory. */
export async function inspectRestoredCopies(
  deps: CopyDeps,
  input: { cluster: string; node: string; dataDirs: string[] },
): Promise<CopyFacts[]> {
  nodeOf(deps.config, input.cluster, input.node);
  return input.dataDirs.map((d) => ({ ...copyFacts(d), host: hostname(), canonicalDir: canonicalPath(d) }));
}

export interface DropResult {
  /** A server ran there and was stopped (pg_ctl -m fast). */
  stopped: boolean;
  /** The directory was removed by this call (false: it was already gone). */
  removed: boolean;
}

/**
 * Stops a restored copy and removes its directory, proven first to be this restore's copy (its
 * marker) and no configured node's directory. The directory is renamed aside before it is
 * removed, so a retry after a partial removal finishes the job instead of finding no marker.
 */
export async function dropRestoredCopy(
  deps: CopyDeps,
  input: { cluster: string; node: string; dataDir: string; workflowId: string; restoreId: string },
): Promise<DropResult> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const refuse = (problems: string[]) => new RestoreDropRefusedError(input.cluster, input.restoreId, problems);
  const fromConfig = dropProblemsFromReport(
    { id: input.restoreId, replaced: null, destination: { node: input.node, dataDir: input.dataDir, port: 0 } },
    nodeDataDirs(deps.config, input.cluster),
  );
  if (fromConfig.length) throw refuse(fromConfig);
  // The same, by canonical path on this host, with every node's WAL and tablespace directories.
  const live = overlapsWithLive(deps.config, canonicalPath(input.dataDir), { cluster: input.cluster, node: input.node });
  if (live.length)
    throw refuse(
      live.map(
        (o) =>
          `${input.dataDir} ${o.relation === 'is' ? 'is' : o.relation === 'inside' ? 'lies inside' : 'contains'} node ${o.node}'s ${o.kind} directory ${o.path}`,
      ),
    );
  const aside = droppingDir(input.dataDir, input.restoreId);
  let stopped = false;
  let removed = false;
  const facts = copyFacts(input.dataDir);
  if (facts.contents !== 'absent') {
    const problems = dropProblemsFromFacts(input.workflowId, facts);
    if (problems.length) throw refuse(problems);
    if (facts.pid !== null) {
      await runTool({
        tool: 'pg_ctl',
        binDir: nc.binDir,
        args: ['-D', input.dataDir, '-m', 'fast', '-w', '-t', '300', 'stop'],
        osUser: nc.osUser,
      });
      stopped = true;
    }
    // pg_ctl -w returned once the postmaster exited; a server started again meanwhile is not removed.
    const pid = runningPid(input.dataDir);
    if (pid !== null) throw new Error(`refusing to remove ${input.dataDir}: a server (pid ${pid}) runs in it again`);
    // Its tablespaces first, while its links still name them.
    removeCopyTablespaces(deps.config, input);
    renameSync(input.dataDir, aside);
    removed = true;
  }
  if (existsSync(aside)) {
    rmSync(aside, { recursive: true, force: true });
    removed = true;
  }
  // A drop retried after the rename: the default tablespace root is still there.
  removeCopyTablespaces(deps.config, input);
  releaseClaimsOf(input.dataDir);
  return { stopped, removed };
}
