/**
 * pgdr's ground on a host: canonical spellings of paths, and the live directories of every
 * configured node (data, WAL, tablespaces) that a restore must never touch unless it is for
 * that node. A path's canonical form is the realpath of its deepest existing ancestor plus the
 * rest, so a symlink, a trailing "/" or a not-yet-created subdirectory all compare as what
 * they will really be.
 */
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { normalPath, overlaps } from '../domain/paths.js';
import type { LiveDirOverlap } from '../domain/restore.js';
import type { PgdrConfig } from '../config/schema.js';

/** The realpath of the deepest existing ancestor, with the missing rest appended. */
export function canonicalPath(path: string): string {
  const rest: string[] = [];
  let at = normalPath(path);
  for (;;) {
    try {
      const real = realpathSync(at);
      return rest.length ? join(real, ...rest.reverse()) : real;
    } catch {
      if (at === '/' || at === dirname(at)) return normalPath(path);
      rest.push(basename(at));
      at = dirname(at);
    }
  }
}

export interface LiveDir {
  cluster: string;
  node: string;
  kind: LiveDirOverlap['kind'];
  path: string;
}

/** Symlink targets under a data directory (pg_wal, pg_tblspc/*), canonical; what cannot be read is skipped. */
function linkedDirs(dataDir: string): { kind: 'wal' | 'tablespace'; path: string }[] {
  const out: { kind: 'wal' | 'tablespace'; path: string }[] = [];
  const target = (link: string): string | null => {
    try {
      return lstatSync(link).isSymbolicLink() ? canonicalPath(resolve(dirname(link), readlinkSync(link))) : null;
    } catch {
      return null;
    }
  };
  const wal = target(join(dataDir, 'pg_wal'));
  if (wal) out.push({ kind: 'wal', path: wal });
  try {
    for (const oid of readdirSync(join(dataDir, 'pg_tblspc'))) {
      const t = target(join(dataDir, 'pg_tblspc', oid));
      if (t) out.push({ kind: 'tablespace', path: t });
    }
  } catch {
    // No pg_tblspc (not a data directory yet, or not readable here).
  }
  return out;
}

/**
 * The live directories, canonical, of every configured node on the same host as `on` (nodes
 * with the same `host` address): two nodes on two machines may well use one path. Without `on`,
 * every node's.
 */
export function liveDirs(config: PgdrConfig, on?: { cluster: string; node: string }): LiveDir[] {
  const out: LiveDir[] = [];
  const host = on ? config.clusters[on.cluster]?.nodes[on.node]?.host : undefined;
  for (const [cluster, c] of Object.entries(config.clusters)) {
    for (const [node, n] of Object.entries(c.nodes)) {
      if (host !== undefined && n.host !== host) continue;
      const data = canonicalPath(n.dataDir);
      out.push({ cluster, node, kind: 'data', path: data });
      if (existsSync(data)) for (const l of linkedDirs(data)) out.push({ cluster, node, ...l });
    }
  }
  return out;
}

/** The live directories (of nodes on the host of `on`) the canonical path is, lies inside, or contains. */
export function overlapsWithLive(config: PgdrConfig, canonical: string, on?: { cluster: string; node: string }): LiveDirOverlap[] {
  return liveDirs(config, on)
    .filter((d) => overlaps(canonical, d.path))
    .map((d) => ({ ...d, relation: d.path === canonical ? 'is' : canonical.startsWith(`${d.path}/`) ? 'inside' : 'contains' }));
}
