/**
 * The archivers of a process's node agents: one per node whose cluster archives through the
 * agent (basebackup method, archive.agent.enabled), sharing one S3 client.
 */
import type { PgdrConfig } from '../config/schema.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { startArchiver, type Archiver } from '../adapters/walArchiver.js';

export function startArchivers(
  config: PgdrConfig,
  agents: { cluster: string; node: string }[],
): { list: Archiver[]; stop(): Promise<void> } {
  const served = agents.filter(({ cluster }) => {
    const c = config.clusters[cluster]!;
    return c.method === 'basebackup' && c.archive.agent.enabled;
  });
  if (!served.length) return { list: [], stop: async () => undefined };
  const readSecret = createSecretReader();
  const s3 = createS3Client(config.storage, readSecret);
  const list = served.map(({ cluster, node }) => startArchiver({ config, cluster, node, s3, readSecret }));
  return {
    list,
    async stop() {
      await Promise.all(list.map((a) => a.stop()));
      s3.destroy();
    },
  };
}
