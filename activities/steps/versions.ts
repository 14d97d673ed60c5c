/**
 * The node's Postgres tools against the version they must match (domain/pgVersions.ts judges):
 * its own server's for backups and rebuilds, a backup's for restores and drills. Runs before
 * anything is created, so a mismatch leaves nothing behind.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { judgeToolVersions, requireSupported, type PgMajorTraits } from '../../domain/pgVersions.js';
import { nodeOf } from '../../config/lookup.js';
import { resolveTool, runTool } from '../../adapters/gateway.js';
import { withNode, type PostgresDeps } from '../../adapters/sql.js';

/** The tools each kind of work runs from binDir. */
export const TOOLS_FOR = {
  backup: ['pg_ctl', 'pg_basebackup'],
  restore: ['pg_ctl', 'postgres'],
  rebuild: ['pg_ctl', 'postgres', 'pg_basebackup'],
} as const;

/** `<tool> --version` of each tool in the node's binDir (run at once). */
export async function toolVersionOutputs(deps: PostgresDeps, cluster: string, node: string, tools: readonly string[]) {
  const nc = nodeOf(deps.config, cluster, node);
  return Promise.all(tools.map(async (tool) => ({ tool: `${tool} in ${nc.binDir}`, output: await versionOutput(tool, nc.binDir) })));
}

/**
 * What `<file> --version` printed, by path, with the file's identity when it ran. The agent is a
 * warm process: a backup asks the same binaries every time, and two spawns cost it 10-30 ms
 * before pg_basebackup could start. A file replaced since (a package upgrade writes a new inode,
 * a rebuild a new mtime, a retargeted symlink another file) is asked again.
 */
const versionSeen = new Map<string, { identity: string; output: string }>();

async function versionOutput(tool: string, binDir: string | undefined): Promise<string> {
  const file = resolveTool(tool, binDir);
  const identity = fileIdentity(file, tool);
  const seen = versionSeen.get(file);
  if (identity && seen?.identity === identity) return seen.output;
  const output = String((await runTool({ tool, binDir, args: ['--version'] })).stdout);
  // Stat'ed before the run: a file replaced while it ran is asked again next time, never trusted.
  if (identity) versionSeen.set(file, { identity, output });
  return output;
}

/**
 * Device, inode, size, mtime and ctime of the file a path leads to; undefined (never remembered)
 * when it cannot be stat'ed (a bare name on PATH), or when it leads to a file of another name: a
 * wrapper such as Debian's pg_wrapper (/usr/bin/pg_basebackup) picks a major at each run, so the
 * same file can print another version tomorrow.
 */
function fileIdentity(file: string, tool: string): string | undefined {
  if (!file.includes('/')) return undefined;
  try {
    if (basename(realpathSync(file)) !== tool) return undefined;
    const st = statSync(file, { bigint: true });
    return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
  } catch {
    return undefined;
  }
}

/**
 * Starts the `--version` runs of the tools for `work` now, and answers the check once the version
 * they must match is known (from a server read made meanwhile): PgVersionMismatchError or
 * PgVersionUnsupportedError, or the traits of that major.
 */
export function startToolCheck(
  deps: PostgresDeps,
  input: { cluster: string; node: string; work: keyof typeof TOOLS_FOR },
): (against: { label: string; versionNum: number }) => Promise<PgMajorTraits> {
  const outputs = toolVersionOutputs(deps, input.cluster, input.node, TOOLS_FOR[input.work]);
  // Its failure is the answer's, whenever (and if ever) the answer is asked for.
  outputs.catch(() => undefined);
  return async (against) => {
    judgeToolVersions({
      cluster: input.cluster,
      node: input.node,
      tools: await outputs,
      against: against.label,
      versionNum: against.versionNum,
    });
    return requireSupported(input.cluster, against.label, against.versionNum);
  };
}

/**
 * Refuses (PgVersionMismatchError, PgVersionUnsupportedError) when the node's tools are not of
 * the major of `against` (a backup's or another server's server_version_num), or of the node's
 * own server when `against` is absent. Returns the traits of that major.
 */
export async function checkToolVersions(
  deps: PostgresDeps,
  input: { cluster: string; node: string; work: keyof typeof TOOLS_FOR; against?: { label: string; versionNum: number } },
): Promise<PgMajorTraits> {
  const check = startToolCheck(deps, input);
  const against =
    input.against ??
    (await withNode(deps, input.cluster, input.node, async (c) => ({
      label: `the server of node "${input.node}"`,
      versionNum: Number((await c.query(`select current_setting('server_version_num') as v`)).rows[0].v),
    })));
  return check(against);
}
