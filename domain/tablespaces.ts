/**
 * User tablespaces in backups and restores: what a backup records, where a restore puts each
 * tablespace, and the judgement of those places. Pure and workflow-safe.
 *
 * A restore never writes a tablespace where the backup's server had it (that directory belongs
 * to a running server, usually on the same host): each one goes to a directory of its own,
 * `<dataDir>_tblspc/<oid>` by default, or where the request maps it (by name or OID).
 */
import { normalPath, pathProblem, SAFE_PATH_FORM, shown, type LiveDirOverlap } from './paths.js';

/** The user tablespaces of a server (pg_default and pg_global are in every backup's base archive). */
export const TABLESPACES_SQL = `select oid::int as oid, spcname as name, pg_tablespace_location(oid) as location
  from pg_tablespace where spcname not in ('pg_default', 'pg_global') order by oid`;

/** A user tablespace as a backup recorded it. */
export interface BackupTablespace {
  oid: number;
  name: string;
  /** Where the backed-up server had it (pg_tablespace_location). */
  location: string;
  /** basebackup: the tablespace's own archive, relative to the backup's folder. */
  object?: { name: string; bytes: number; sha256: string };
}

/** Where one tablespace of a backup goes in a restore. */
export interface TablespaceMapping {
  oid: number;
  name: string;
  /** Where the backed-up server had it. */
  from: string;
  /** Where the restore puts it. */
  to: string;
  /** Named in the request (true) or the default under the destination (false). */
  explicit: boolean;
}

/** What the destination's host says about a mapped directory. */
export interface TablespaceDirFacts {
  path: string;
  canonical: string;
  state: 'absent' | 'empty' | 'files';
  liveOverlaps: LiveDirOverlap[];
  withinRoots: boolean;
}

/** The backup_manifest pg_basebackup -Ft -D writes beside the archives; stored as an object of that name. */
export const BACKUP_MANIFEST_OBJECT = 'backup_manifest';

/** The archive name pg_basebackup -Ft gives a tablespace: `<oid>.tar[.zst|.lz4|.gz]`, like base.tar's suffix. */
export function tablespaceObjectName(oid: number, baseObjectName: string): string {
  return `${oid}${baseObjectName.slice('base'.length)}`;
}

/** The directory that holds a restore's default tablespace directories: `<dataDir>_tblspc`. */
export function tablespaceRoot(dataDir: string): string {
  return `${normalPath(dataDir)}_tblspc`;
}

/** A request's map key names a tablespace by name or OID. */
function keyMatches(key: string, t: BackupTablespace): boolean {
  return key === t.name || key === String(t.oid);
}

/**
 * Each of the backup's tablespaces mapped to its directory: the request's mapping when it names
 * it (by name or OID), else `<dataDir>_tblspc/<oid>`. Problems name the key and the value.
 */
export function mapTablespaces(
  tablespaces: BackupTablespace[],
  requested: Record<string, string> | undefined,
  dataDir: string,
  backupId: string,
): { mapping: TablespaceMapping[]; problems: string[] } {
  const problems: string[] = [];
  const req = requested ?? {};
  for (const [key, path] of Object.entries(req)) {
    if (!tablespaces.some((t) => keyMatches(key, t)))
      problems.push(
        `tablespaceMap names tablespace ${shown(key)}, which backup ${backupId} does not have; expected one of ${
          tablespaces.length ? tablespaces.map((t) => `${t.name} (oid ${t.oid})`).join(', ') : '(none: the backup has no user tablespace)'
        }`,
      );
    const bad = pathProblem(path);
    if (bad) problems.push(`tablespaceMap[${shown(key)}] ${shown(path)}: ${bad}`);
  }
  const mapping: TablespaceMapping[] = [];
  for (const t of tablespaces) {
    const keys = Object.keys(req).filter((k) => keyMatches(k, t));
    if (keys.length > 1)
      problems.push(`tablespaceMap names tablespace ${t.name} (oid ${t.oid}) twice: as ${keys.map(shown).join(' and ')}`);
    const given = keys[0] !== undefined ? req[keys[0]] : undefined;
    const to = normalPath(given ?? `${tablespaceRoot(dataDir)}/${t.oid}`);
    mapping.push({ oid: t.oid, name: t.name, from: t.location, to, explicit: given !== undefined });
  }
  const dest = normalPath(dataDir);
  for (const m of mapping) {
    const inside = (a: string, b: string) => a === b || a.startsWith(`${b}/`);
    if (inside(m.to, dest) || inside(dest, m.to))
      problems.push(
        `tablespace ${m.name} (oid ${m.oid}) would go to ${m.to}, which ${m.to === dest ? 'is' : inside(m.to, dest) ? 'lies inside' : 'contains'} the destination data directory ${dest}; expected a directory apart from it`,
      );
    for (const o of mapping) {
      if (o.oid <= m.oid) continue;
      if (inside(m.to, o.to) || inside(o.to, m.to))
        problems.push(
          `tablespaces ${m.name} (oid ${m.oid}) and ${o.name} (oid ${o.oid}) would share ${m.to.length <= o.to.length ? m.to : o.to}; expected a directory of its own for each`,
        );
    }
  }
  return { mapping, problems };
}

/**
 * The mapped directories judged on the destination's host: never a configured node's live
 * directory (a running server owns it; also in an in-place restore, whose old tablespaces are
 * kept until the restore is proven), empty or absent, and inside the restore roots (an
 * in-place restore's may lie beside the node's data directory, as its data directory does).
 */
export function judgeTablespaceDirs(
  mapping: TablespaceMapping[],
  facts: TablespaceDirFacts[],
  o: { node: string; cluster: string; roots: string[]; inPlace: boolean },
): string[] {
  const out: string[] = [];
  for (const m of mapping) {
    const f = facts.find((x) => x.path === m.to);
    const what = `tablespace ${m.name} (oid ${m.oid}) mapped to ${o.node}:${m.to}${f && f.canonical !== m.to ? ` (it resolves to ${f.canonical})` : ''}`;
    if (!f) {
      out.push(`${what} was not inspected on node ${o.node}`);
      continue;
    }
    const foreign = f.liveOverlaps;
    for (const l of foreign) {
      const rel = l.relation === 'is' ? 'is' : l.relation === 'inside' ? 'lies inside' : 'contains';
      const kind = l.kind === 'data' ? 'data directory' : l.kind === 'wal' ? 'WAL directory' : 'tablespace directory';
      out.push(
        `${what} ${rel} node ${l.cluster === o.cluster ? '' : `${l.cluster}/`}${l.node}'s ${kind} ${l.path}, which a running server owns; expected a directory apart from every configured node's data, WAL and tablespace directories (tablespaceMap: {"${m.name}": "/path"})`,
      );
    }
    if (!foreign.length && !f.withinRoots && !o.inPlace)
      out.push(
        `${what} is outside pgdr's restore roots ${o.roots.join(', ')}; expected a directory inside one of them (restore.dir, restore.allowedRoots)`,
      );
    if (!foreign.length && f.state === 'files') out.push(`${what} is not empty; expected an empty or absent directory`);
  }
  return out;
}

/**
 * Replaying WAL past a backup creates every tablespace made since at its original location
 * (Postgres' redo takes the path from the WAL record; no mapping applies). On a host where the
 * cluster has that tablespace live, the copy would write into the live server's directory: such
 * a restore is refused unless it stops at the backup's end (immediate).
 */
export function judgeLaterTablespaces(
  backup: { id: string; tablespaces?: BackupTablespace[] },
  live: { node: string; oid: number; path: string }[],
  o: { node: string; immediate: boolean },
): string[] {
  if (o.immediate) return [];
  const had = new Set((backup.tablespaces ?? []).map((t) => t.oid));
  return live
    .filter((l) => !had.has(l.oid))
    .map(
      (l) =>
        `tablespace oid ${l.oid} (node ${l.node}'s ${l.path}) was created after backup ${backup.id}: replaying its creation would write into ${l.path} on ${o.node}, the live tablespace directory; expected a backup taken after it was created (take one), a destination on another host, or target immediate`,
    );
}

/** tablespace_map as the restored server reads it: `<oid> <path>` per line (paths are SAFE_PATH_CHARS only). */
export function tablespaceMapText(mapping: Pick<TablespaceMapping, 'oid' | 'to'>[]): string {
  return mapping.map((m) => `${m.oid} ${m.to}\n`).join('');
}

export const TABLESPACE_MAP_FORM = `name=/path or oid=/path, the path ${SAFE_PATH_FORM}`;

/** `--tablespace-map name=/path` (repeatable) as the API's tablespaceMap object; throws naming the bad value. */
export function parseTablespaceMapOptions(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const at = v.indexOf('=');
    if (at <= 0 || at === v.length - 1) throw new RangeError(`--tablespace-map ${shown(v)}: expected ${TABLESPACE_MAP_FORM}`);
    const key = v.slice(0, at);
    if (key in out) throw new RangeError(`--tablespace-map names ${shown(key)} twice; expected each tablespace once`);
    out[key] = v.slice(at + 1);
  }
  return out;
}
