/** The role endpoints of a process's node agents: one per node with `healthPort` (adapters/roleEndpoints.ts). */
import type { PgdrConfig } from '../config/schema.js';
import { createSecretReader } from '../adapters/secrets.js';
import { startRoleEndpoint, type RoleEndpoint } from '../adapters/roleEndpoints.js';

export async function startRoleEndpoints(
  config: PgdrConfig,
  agents: { cluster: string; node: string }[],
): Promise<{ list: RoleEndpoint[]; stop(): Promise<void> }> {
  const readSecret = createSecretReader();
  const served = agents.filter(({ cluster, node }) => config.clusters[cluster]?.nodes[node]?.healthPort !== undefined);
  const list: RoleEndpoint[] = [];
  try {
    for (const { cluster, node } of served) list.push(await startRoleEndpoint({ config, cluster, node, readSecret }));
  } catch (err) {
    await Promise.all(list.map((e) => e.stop()));
    throw err;
  }
  for (const e of list) console.log(`role endpoints (/primary, /replica, /health) on http://${e.address}`);
  return { list, stop: async () => void (await Promise.all(list.map((e) => e.stop()))) };
}
