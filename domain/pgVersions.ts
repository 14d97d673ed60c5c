/**
 * Everything pgdr does differently by PostgreSQL major version, in one table. Supporting a new
 * major is a row here (and a run of the test suite against it), not a hunt through the code.
 * Workflow-safe: pure.
 *
 * Versions are numbers as the server reports them (`server_version_num`: 150010 is 15.10) or
 * as the tools print them (`pg_ctl (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)`).
 */
import { PgVersionMismatchError, PgVersionUnsupportedError } from './errors.js';

export interface PgMajorTraits {
  major: number;
  /** Tested by this repository's suite (the others are written for, from the release notes). */
  tested: boolean;
  /** The non-exclusive backup functions the pgdr role may execute (pg_backup_start since 15; pg_start_backup before). */
  backupFunctions: string[];
  /** `GRANT ALTER SYSTEM ON PARAMETER ...` exists (15+): the pgdr role sets archiving without being superuser. */
  grantAlterSystemOnParameter: boolean;
  /** The predefined role that may run CHECKPOINT (pg_checkpoint, 15+). */
  checkpointRole: string;
  /** pg_basebackup's compression option: `--compress=client-<method>[:level=N]` (15+). */
  basebackupCompression: 'client-method';
}

const V15_ON: Omit<PgMajorTraits, 'major' | 'tested'> = {
  backupFunctions: ['pg_backup_start(text, boolean)', 'pg_backup_stop(boolean)'],
  grantAlterSystemOnParameter: true,
  checkpointRole: 'pg_checkpoint',
  basebackupCompression: 'client-method',
};

/** The supported majors. 13 and 14 lack pg_backup_start, GRANT ... ON PARAMETER, pg_checkpoint and client-side zstd. */
export const PG_MAJORS: readonly PgMajorTraits[] = [
  { major: 15, tested: true, ...V15_ON },
  { major: 16, tested: false, ...V15_ON },
  { major: 17, tested: false, ...V15_ON },
];

export function supportedMajors(): string {
  return PG_MAJORS.map((m) => m.major).join(', ');
}

/** 150010 → 15 (and 90624 → 9: the old two-part majors are all long unsupported). */
export function majorOf(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

/** 150010 → "15.10". */
export function formatVersionNum(versionNum: number): string {
  return `${majorOf(versionNum)}.${versionNum % 10000}`;
}

/** The traits of a major, or undefined when pgdr does not support it. */
export function traitsOf(major: number): PgMajorTraits | undefined {
  return PG_MAJORS.find((m) => m.major === major);
}

/** The traits of a server's major; a major outside the table is refused. */
export function requireSupported(cluster: string, what: string, versionNum: number): PgMajorTraits {
  const t = traitsOf(majorOf(versionNum));
  if (!t) throw new PgVersionUnsupportedError(cluster, what, `${formatVersionNum(versionNum)} (${versionNum})`, supportedMajors());
  return t;
}

export interface ToolVersion {
  /** As printed: "15.10", "16.4", "17beta1". */
  text: string;
  major: number;
}

/** Reads `<tool> --version` output: "pg_ctl (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)" → 15.10. */
export function parseToolVersion(output: string): ToolVersion | undefined {
  const m = /\(PostgreSQL\)\s+((\d+)(?:\.\d+)*(?:devel|beta\d+|rc\d+)?)/.exec(output);
  return m ? { text: m[1]!, major: Number(m[2]) } : undefined;
}

/**
 * Judges the tools of a node's binDir against the version they must match: the server's
 * (backups, rebuilds) or a backup's (restores, drills). The first tool of another major is
 * refused, naming both versions; so is a version outside the table.
 */
export function judgeToolVersions(f: {
  cluster: string;
  node: string;
  /** `tool (path)` → its `--version` output. */
  tools: { tool: string; output: string }[];
  /** What the tools must match, e.g. `the server` or `backup 20260101T000000F`. */
  against: string;
  versionNum: number;
}): void {
  const major = majorOf(f.versionNum);
  requireSupported(f.cluster, f.against, f.versionNum);
  for (const t of f.tools) {
    const v = parseToolVersion(t.output);
    const shown = v?.text ?? `unknown (it printed "${t.output.trim().slice(0, 80)}")`;
    if (v?.major !== major)
      throw new PgVersionMismatchError(f.cluster, f.node, t.tool, shown, f.against, formatVersionNum(f.versionNum), major);
  }
}

/** pg_basebackup's compression arguments for a major (see PgMajorTraits.basebackupCompression). */
export function basebackupCompressArgs(traits: PgMajorTraits, method: string, level: number | undefined): string[] {
  if (method === 'none') return [];
  switch (traits.basebackupCompression) {
    case 'client-method':
      return [`--compress=client-${method}${level ? `:level=${level}` : ''}`];
  }
}

/**
 * The grants the pgdr role needs on a server of this major (README: the pgdr role). The stack
 * applies them; operators run the same.
 */
export function pgdrGrantsSql(traits: PgMajorTraits): string {
  const lines = [
    `grant pg_monitor, ${traits.checkpointRole} to pgdr;`,
    `grant execute on function pg_switch_wal(), pg_create_restore_point(text), pg_promote(boolean, integer),
  pg_wal_replay_pause(), pg_wal_replay_resume(), ${traits.backupFunctions.join(', ')},
  pg_reload_conf() to pgdr;`,
  ];
  if (traits.grantAlterSystemOnParameter)
    lines.push(`grant alter system on parameter archive_mode, archive_command, restore_command,
  primary_conninfo, primary_slot_name, synchronous_standby_names to pgdr;`);
  return lines.join('\n');
}
