/**
 * The node's Postgres tools against the version they must match (domain/pgVersions.ts judges):
 * its own server's for backups and rebuilds, a backup's for restores and drills. Runs before
 * anything is created, so a mismatch leaves nothing behind.
 */
import { judgeToolVersions, requireSupported, type PgMajorTraits } from '../../domain/pgVersions.js';
import { nodeOf } from '../../config/lookup.js';
import { runTool } from '../../adapters/gateway.js';
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
  return Promise.all(
    tools.map(async (tool) => ({
      tool: `${tool} in ${nc.binDir}`,
      output: String((await runTool({ tool, binDir: nc.binDir, args: ['--version'] })).stdout),
    })),
  );
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
  const against =
    input.against ??
    (await withNode(deps, input.cluster, input.node, async (c) => ({
      label: `the server of node "${input.node}"`,
      versionNum: Number((await c.query(`select current_setting('server_version_num') as v`)).rows[0].v),
    })));
  judgeToolVersions({
    cluster: input.cluster,
    node: input.node,
    tools: await toolVersionOutputs(deps, input.cluster, input.node, TOOLS_FOR[input.work]),
    against: against.label,
    versionNum: against.versionNum,
  });
  return requireSupported(input.cluster, against.label, against.versionNum);
}
