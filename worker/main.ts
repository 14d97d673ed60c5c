/**
 * pgdr worker process. SIGINT/SIGTERM (handled by the Temporal runtime) stop polling, let
 * in-flight activities finish within the grace time, then cancel them; the process exits
 * once every worker has drained.
 */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../config/load.js';
import { createWorkers, planWorkers } from './workers.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const plan = planWorkers(config);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  try {
    const workers = await createWorkers({ config, connection, plan });
    const queues = workers.map((w) => w.options.taskQueue);
    console.log(`pgdr worker polling ${queues.join(', ')} on ${config.temporal.address}`);
    await Promise.all(workers.map((w) => w.run()));
    console.log('pgdr worker stopped');
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
