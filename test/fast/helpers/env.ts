/**
 * One fast-tier environment per test file: a Temporal client, and one control worker running the
 * real workflows (bundled once) with stub activities. The dev server and the bundle are the run's
 * (test/fast/globalSetup.ts) when vitest.fast.config.ts runs; under the main config each file
 * starts its own server on a free port and bundles for itself.
 *
 * Control activities are shared by every test of the file: each call goes to the fake cluster
 * named in the calling workflow's id (<procedure>/<cluster>/<rest>, as pgdr names every run).
 */
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { WORKER_HEARTBEATS, bundleWorkflows, startDevServer, type DevServer } from './server.js';
import { ACTIVITY_NAMES, FakeCluster, type ClusterSpec } from './fakeCluster.js';

export interface FastEnv {
  client: Client;
  connection: NativeConnection;
  /** The task queue of this file's control worker (config temporal.taskQueue of every fake cluster). */
  controlQueue: string;
  /** A fake cluster with its node agents running; closed after the test. */
  cluster(spec?: ClusterSpec): Promise<FakeCluster>;
}

let runtimeInstalled = false;

function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Installed already by an earlier file in this process.
  }
}

/** Registers the file's setup and teardown; the environment is ready inside tests. */
export function useFastEnv(): FastEnv {
  let own: DevServer | undefined;
  let connection: NativeConnection;
  let client: Client;
  let worker: Worker;
  let running: Promise<void>;
  const clusters = new Map<string, FakeCluster>();
  const open: FakeCluster[] = [];
  const controlQueue = `fast-control-${Math.random().toString(36).slice(2, 10)}`;

  const controlActivities = Object.fromEntries(
    ACTIVITY_NAMES.map((name) => [
      name,
      async (input: unknown) => {
        const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
        const fake = clusters.get(workflowId.split('/')[1] ?? '');
        if (!fake) throw ApplicationFailure.nonRetryable(`no fake cluster for workflow ${workflowId} (activity ${name})`, 'FastTierSetup');
        return fake.invoke('control', name, input);
      },
    ]),
  );

  beforeAll(async () => {
    installQuietRuntime();
    const address = inject('fastTemporalAddress');
    const bundlePath = inject('fastWorkflowBundle');
    let workflowBundle: { codePath: string } | { code: string };
    if (address && bundlePath) {
      connection = await NativeConnection.connect({ address });
      workflowBundle = { codePath: bundlePath };
    } else {
      const [env, bundle] = await Promise.all([startDevServer(), bundleWorkflows()]);
      own = env;
      connection = await NativeConnection.connect({ address: env.address });
      workflowBundle = { code: bundle.code };
    }
    client = new Client({ connection, namespace: 'default' });
    worker = await Worker.create({
      connection,
      namespace: 'default',
      taskQueue: controlQueue,
      workflowBundle,
      activities: controlActivities,
      ...WORKER_HEARTBEATS,
    });
    running = worker.run();
  }, 240_000);

  // Whatever a test left running (a failed assertion mid-way) is terminated before the next.
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  }, 60_000);

  afterAll(async () => {
    if (worker) {
      worker.shutdown();
      await running;
    }
    await connection?.close();
    await own?.teardown();
  }, 120_000);

  return {
    get client() {
      return client;
    },
    get connection() {
      return connection;
    },
    controlQueue,
    async cluster(spec: ClusterSpec = {}) {
      const fake = await FakeCluster.start({ client, connection, controlQueue, spec });
      clusters.set(fake.name, fake);
      open.push(fake);
      return fake;
    },
  };
}
