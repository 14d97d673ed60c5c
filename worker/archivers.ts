/**
 * The archivers of a process's node agents: one per node whose cluster archives through the
 * agent (basebackup method, archive.agent.enabled), sharing one S3 client and one pool of
 * pusher threads.
 */
import type { PgdrConfig } from '../config/schema.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { startArchiver, type Archiver } from '../adapters/walArchiver.js';
import { startWalPushers } from '../adapters/walPushers.js';

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
  // One pool for the process: as many threads as the most parallel cluster asks for, one per core at most.
  const pushers = startWalPushers({
    config,
    s3,
    readSecret,
    threads: Math.max(...served.map(({ cluster }) => config.clusters[cluster]!.archive.parallel)),
    log: (line) => process.stderr.write(`archiver: ${line}\n`),
  });
  const list = served.map(({ cluster, node }) => startArchiver({ config, cluster, node, s3, readSecret, pushers }));
  return {
    list,
    async stop() {
      await Promise.all(list.map((a) => a.stop()));
      await pushers.close();
      s3.destroy();
    },
  };
}
