/**
 * A restore's tablespace directories on the destination's host (node agent): what is there
 * (for the pre-flight), making them, and removing them with the copy. Every removal judges the
 * ground again: a configured node's live directory is never touched.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { PgdrConfig } from '../../config/schema.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { canonicalPath, overlapsWithLive } from '../../adapters/hostPaths.js';
import { own, runningPid } from '../../adapters/pgHost.js';
import { isWithin, normalPath } from '../../domain/paths.js';
import { RestorePreflightError } from '../../domain/errors.js';
import { tablespaceRoot, type BackupTablespace, type TablespaceDirFacts, type TablespaceMapping } from '../../domain/tablespaces.js';

interface Deps {
  config: PgdrConfig;
}

/** Where restores may create and replace directories on a cluster's hosts. */
export function restoreRoots(cc: PgdrConfig['clusters'][string]): string[] {
  return [cc.restore.dir, ...cc.restore.allowedRoots];
}

function withinRoots(config: PgdrConfig, cluster: string, canonical: string): boolean {
  return restoreRoots(clusterOf(config, cluster)).some((r) => isWithin(canonical, canonicalPath(r)) && canonical !== canonicalPath(r));
}

function stateOf(path: string): TablespaceDirFacts['state'] {
  if (!existsSync(path)) return 'absent';
  if (!statSync(path).isDirectory()) return 'files';
  return readdirSync(path).length === 0 ? 'empty' : 'files';
}

/** The mapped directories as this host sees them, for the pre-flight (domain/tablespaces.ts judgeTablespaceDirs). */
export async function inspectTablespaceDirs(
  deps: Deps,
  input: { cluster: string; node: string; paths: string[] },
): Promise<TablespaceDirFacts[]> {
  nodeOf(deps.config, input.cluster, input.node);
  return input.paths.map((path) => {
    const canonical = canonicalPath(path);
    return {
      path,
      canonical,
      state: stateOf(path),
      liveOverlaps: overlapsWithLive(deps.config, canonical, { cluster: input.cluster, node: input.node }),
      withinRoots: withinRoots(deps.config, input.cluster, canonical),
    };
  });
}

/**
 * Makes each mapped directory an empty directory of the node's OS user. Judged again at the
 * moment of change: a live directory, or one that holds files (not this restore's: a retried
 * attempt empties its own in the fetch), is refused and nothing is changed.
 */
export async function prepareTablespaceDirs(
  deps: Deps,
  input: { cluster: string; node: string; dataDir: string; dirs: string[] },
): Promise<{ created: string[] }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const problems: string[] = [];
  for (const d of input.dirs) {
    for (const o of overlapsWithLive(deps.config, canonicalPath(d), { cluster: input.cluster, node: input.node }))
      problems.push(
        `tablespace directory ${input.node}:${d} ${o.relation === 'is' ? 'is' : o.relation === 'inside' ? 'lies inside' : 'contains'} node ${o.node}'s ${o.kind} directory ${o.path}; nothing was changed`,
      );
    if (stateOf(d) === 'files' && !isWithin(normalPath(d), tablespaceRoot(input.dataDir)))
      problems.push(`tablespace directory ${input.node}:${d} is no longer empty; nothing was changed`);
  }
  if (problems.length) throw new RestorePreflightError(input.cluster, problems);
  const created: string[] = [];
  for (const d of input.dirs) {
    let top: string | null = null;
    for (let at = d; !existsSync(at); at = dirname(at)) top = at;
    if (top) created.push(top);
    mkdirSync(d, { recursive: true, mode: 0o700 });
    for (let at = d; top && isWithin(at, top); at = dirname(at)) own(at, nc.osUser);
    own(d, nc.osUser);
  }
  return { created };
}

/**
 * The tablespaces (OID and directory) of the cluster's nodes on the same host as `node`: WAL
 * replayed past a backup creates a tablespace the backup lacks at its original location.
 */
export function clusterTablespacesOnHost(config: PgdrConfig, cluster: string, node: string): { node: string; oid: number; path: string }[] {
  const cc = clusterOf(config, cluster);
  const host = cc.nodes[node]?.host;
  const out: { node: string; oid: number; path: string }[] = [];
  for (const [name, n] of Object.entries(cc.nodes)) {
    if (n.host !== host) continue;
    const tblspc = join(n.dataDir, 'pg_tblspc');
    try {
      for (const oid of readdirSync(tblspc)) {
        const link = join(tblspc, oid);
        if (/^\d+$/.test(oid) && lstatSync(link).isSymbolicLink())
          out.push({ node: name, oid: Number(oid), path: canonicalPath(resolve(tblspc, readlinkSync(link))) });
      }
    } catch {
      // Not readable here, or no pg_tblspc.
    }
  }
  return out;
}

/** The directories a data directory's pg_tblspc links point at. */
export function linkedTablespaces(dataDir: string): string[] {
  const out: string[] = [];
  const tblspc = join(dataDir, 'pg_tblspc');
  try {
    for (const oid of readdirSync(tblspc)) {
      const link = join(tblspc, oid);
      if (lstatSync(link).isSymbolicLink()) out.push(resolve(tblspc, readlinkSync(link)));
    }
  } catch {
    // No pg_tblspc: nothing linked.
  }
  return out;
}

/**
 * Removes a copy's tablespace directories before its data directory goes: the directories its
 * restore made (`named`, judged by its pre-flight), the targets of its pg_tblspc links and
 * `<dataDir>_tblspc`, the latter two only inside the restore roots or that root. Never a
 * configured node's live directory, never while the copy's server runs. Returns what went.
 */
export function removeCopyTablespaces(
  config: PgdrConfig,
  where: { cluster: string; node: string; dataDir: string },
  named: string[] = [],
): string[] {
  const root = tablespaceRoot(where.dataDir);
  const judged = new Set(named.map(normalPath));
  const targets = new Set([...judged, ...linkedTablespaces(where.dataDir), root]);
  const removed: string[] = [];
  for (const t of targets) {
    const canonical = canonicalPath(t);
    if (!existsSync(t)) continue;
    if (!judged.has(t) && !isWithin(t, root) && !withinRoots(config, where.cluster, canonical)) continue;
    if (overlapsWithLive(config, canonical, { cluster: where.cluster, node: where.node }).length) continue;
    if (runningPid(where.dataDir) !== null) throw new Error(`refusing to remove ${t}: the server of ${where.dataDir} runs`);
    // A directory the restore made goes; one that was there before (a mount point) is emptied.
    if (judged.has(t) || isWithin(t, root)) rmSync(t, { recursive: true, force: true });
    else for (const e of readdirSync(t)) rmSync(join(t, e), { recursive: true, force: true });
    removed.push(t);
  }
  // The default root once its tablespaces are gone.
  if (existsSync(root) && readdirSync(root).length === 0) rmdirSync(root);
  return removed;
}

/**
 * Where a rebuilt standby's tablespaces go: the original location when it is free on this host
 * (no configured node's live directory, absent or empty), so a standby on another host keeps
 * the primary's layout; else `<dataDir>_tblspc/<oid>` (on the primary's own host the original
 * is the primary's live directory; a standby's old copy is kept there until the new one
 * streams). Each directory is made, the node's OS user's.
 */
export function rebuildTablespaceMapping(
  config: PgdrConfig,
  where: { cluster: string; node: string; dataDir: string },
  spaces: Omit<BackupTablespace, 'object'>[],
): TablespaceMapping[] {
  const nc = nodeOf(config, where.cluster, where.node);
  return spaces.map((t) => {
    const free =
      t.location.startsWith('/') && !overlapsWithLive(config, canonicalPath(t.location), where).length && stateOf(t.location) !== 'files';
    const to = free ? normalPath(t.location) : `${tablespaceRoot(where.dataDir)}/${t.oid}`;
    mkdirSync(to, { recursive: true, mode: 0o700 });
    // A retried attempt's own directory beside the data directory starts empty again.
    if (!free) for (const e of readdirSync(to)) rmSync(join(to, e), { recursive: true, force: true });
    if (!free) own(tablespaceRoot(where.dataDir), nc.osUser);
    own(to, nc.osUser);
    return { oid: t.oid, name: t.name, from: t.location, to, explicit: false };
  });
}

/** rebuildTablespaceMapping as an activity, for a rebuild from a backup (the workflow hands the result to the fetch). */
export async function mapRebuildTablespaces(
  deps: Deps,
  input: { cluster: string; node: string; dataDir: string; tablespaces: BackupTablespace[] },
): Promise<TablespaceMapping[]> {
  return rebuildTablespaceMapping(deps.config, input, input.tablespaces);
}
