/** pgdr API process. */
import { loadConfig } from '../config/load.js';
import { createSecretReader } from '../adapters/secrets.js';
import { createS3Client } from '../adapters/storage.js';
import { connectTemporalClient } from '../adapters/temporalConnection.js';
import { buildServer } from './server.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const readSecret = createSecretReader();
  const token = readSecret(config.api.token, 'api.token');
  const { client: temporal, connection } = await connectTemporalClient(config.temporal, readSecret);
  const app = buildServer({ config, temporal, s3: createS3Client(config.storage, readSecret), token }, { logger: true });
  const stop = async () => {
    await app.close();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await app.listen({ host: config.api.host, port: config.api.port });
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
