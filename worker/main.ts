/**
 * pgdr worker process. SIGINT/SIGTERM (handled by the Temporal runtime) stop polling, let
 * in-flight activities finish within the grace time, then cancel them; the process exits
 * once every worker has drained.
 */
import type { Worker } from '@temporalio/worker';
import { connectTemporalClient, connectWorker } from '../adapters/temporalConnection.js';
import { reconcileSchedules } from '../control/schedules.js';
import { loadConfig } from '../config/load.js';
import { createWorkers, planWorkers } from './workers.js';

async function waitUntilRunning(workers: Worker[]): Promise<void> {
  while (!workers.every((w) => w.getState() === 'RUNNING')) await new Promise((r) => setTimeout(r, 50));
}

async function main(): Promise<void> {
  const config = loadConfig();
  const plan = planWorkers(config);
  const connection = await connectWorker(config.temporal);
  if (plan.control) {
    // The control worker owns the schedules: make them match pgdr.yaml before serving.
    const { client, connection: clientConnection } = await connectTemporalClient(config.temporal);
    try {
      const r = await reconcileSchedules(client, config);
      console.log(
        `schedules: ${r.created.length} created, ${r.updated.length} updated, ${r.deleted.length} deleted, ${r.unchanged.length} unchanged`,
      );
      if (r.orphans.length)
        console.warn(`schedules of clusters not in ${process.env.PGDR_CONFIG ?? 'pgdr.yaml'} left alone: ${r.orphans.join(', ')}`);
    } finally {
      await clientConnection.close();
    }
  }
  try {
    const workers = await createWorkers({ config, connection, plan });
    const queues = workers.map((w) => w.options.taskQueue);
    const running = Promise.all(workers.map((w) => w.run()));
    // Say "ready" only once every worker actually polls (scripts wait for this line).
    await Promise.race([waitUntilRunning(workers), running]);
    console.log(`pgdr worker polling ${queues.join(', ')} on ${config.temporal.address}`);
    await running;
    console.log('pgdr worker stopped');
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
