/**
 * pgdr worker process (pgdr-worker). SIGINT/SIGTERM (handled by the Temporal runtime) stop
 * polling, let in-flight activities finish within the grace time, then cancel them; the
 * process exits once every worker has drained.
 */
import { repositoryConfig } from '../config/repositories.js';
import { parseArgs } from 'node:util';
import type { Worker } from '@temporalio/worker';
import { connectTemporalClient, connectWorker } from '../adapters/temporalConnection.js';
import { reconcileSchedules } from '../control/schedules.js';
import { loadConfig } from '../config/load.js';
import { createWorkers, planWorkers, workflowsPath } from './workers.js';
import { checkObjectLock, createS3Client } from '../adapters/storage.js';
import { createSecretReader } from '../adapters/secrets.js';
import { ObjectLockUnavailableError } from '../domain/errors.js';
import type { PgdrConfig } from '../config/schema.js';
import { workflowBundlePath } from './workflowCode.js';
import { startArchivers } from './archivers.js';
import { startRoleEndpoints } from './roleEndpoints.js';
import { dropLauncherOnlyEnv } from './launcherEnv.js';
import { stopAllPrefetchers } from '../adapters/walPrefetcher.js';
import { KeptSessions } from '../adapters/keptConnection.js';

const USAGE = `usage: pgdr-worker [--config PATH] [--role all|control|agent] [--nodes cluster/node,...] [--instance CLUSTER-NODE]

Runs pgdr's Temporal workers: the control worker (workflows, queue temporal.taskQueue) and/or
node agents (one per Postgres node, queue pgdr-node-<cluster>-<node>). Each flag overrides
the environment variable named after it.

  --config PATH        pgdr.yaml (PGDR_CONFIG; default ./pgdr.yaml)
  --role ROLE          all (default), control, or agent (PGDR_ROLE)
  --nodes LIST         agents to run: "all" (default) or cluster/node pairs, comma-separated (PGDR_AGENT_NODES)
  --instance NAME      the one agent <cluster>-<node>, as the pgdr-agent@ unit names it (PGDR_AGENT_INSTANCE)
  --version            print the version
  --help               print this help

PGDR_WORKFLOW_BUNDLE names a prebuilt workflow bundle; the compiled worker uses its own.`;

/** Flags become the environment variables they stand for, so one code path reads both. */
function envFromArgs(argv: string[], env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | 'exit' {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      role: { type: 'string' },
      nodes: { type: 'string' },
      instance: { type: 'string' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) console.log(USAGE);
  else if (values.version) console.log('0.1.0');
  if (values.help || values.version) return 'exit';
  const out = { ...env };
  if (values.config !== undefined) out.PGDR_CONFIG = values.config;
  if (values.role !== undefined) out.PGDR_ROLE = values.role;
  if (values.nodes !== undefined) out.PGDR_AGENT_NODES = values.nodes;
  if (values.instance !== undefined) out.PGDR_AGENT_INSTANCE = values.instance;
  return out;
}

async function waitUntilRunning(workers: Worker[]): Promise<void> {
  while (!workers.every((w) => w.getState() === 'RUNNING')) await new Promise((r) => setTimeout(r, 50));
}

/**
 * The start-up bucket check of Object Lock: says whether the bucket has it, and refuses to serve
 * with storage.objectLock set against a bucket without it. Storage that does not answer now is
 * only a warning: the worker starts during an outage, as before, and a locked write fails loudly.
 */
async function checkBucketLock(config: PgdrConfig): Promise<void> {
  // Each repository: the primary, and the secondary (storage.secondary) when configured.
  const repositories = [
    ['storage', config.storage] as const,
    ...(config.storage.secondary ? [['secondary storage', repositoryConfig(config, 'secondary').storage] as const] : []),
  ];
  for (const [label, storage] of repositories) {
    const s3 = createS3Client(storage, createSecretReader());
    try {
      console.log(`${label}: ${await checkObjectLock(s3, storage)}`);
    } catch (err) {
      if (err instanceof ObjectLockUnavailableError) throw err;
      console.warn(`${label}: object lock of bucket "${storage.bucket}" not checked: ${(err as Error).message || (err as Error).name}`);
    } finally {
      s3.destroy();
    }
  }
}

async function main(): Promise<void> {
  dropLauncherOnlyEnv(process.env);
  const env = envFromArgs(process.argv.slice(2), process.env);
  if (env === 'exit') return;
  const config = loadConfig(env.PGDR_CONFIG || undefined, env);
  const plan = planWorkers(config, env);
  await checkBucketLock(config);
  const bundlePath = plan.control ? workflowBundlePath(env) : undefined;
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
        console.warn(`schedules of clusters not in ${env.PGDR_CONFIG || 'pgdr.yaml'} left alone: ${r.orphans.join(', ')}`);
    } finally {
      await clientConnection.close();
    }
  }
  // The agents' sessions to their own servers (probes), ended once the workers have stopped.
  const sessions = new KeptSessions();
  try {
    const workers = await createWorkers({
      config,
      connection,
      plan,
      sessions,
      ...(bundlePath ? { workflowBundle: { codePath: bundlePath } } : {}),
    });
    if (plan.control)
      console.log(`workflow code: ${bundlePath ? `prebuilt bundle ${bundlePath}` : `bundled from ${workflowsPath} at start`}`);
    const queues = workers.map((w) => w.options.taskQueue);
    // Each agent's archiver pushes its node's WAL ahead of archive_command (basebackup method).
    const archivers = startArchivers(config, plan.agents);
    // Nodes with healthPort: /primary, /replica, /health for HAProxy (a port it cannot take stops the agent).
    const endpoints = await startRoleEndpoints(config, plan.agents).catch(async (err) => {
      await archivers.stop();
      throw err;
    });
    // ...and neither they nor a restore's prefetcher outlive the process.
    const running = Promise.all(workers.map((w) => w.run())).finally(async () => {
      await endpoints.stop();
      await archivers.stop();
      await stopAllPrefetchers();
    });
    // Say "ready" only once every worker actually polls (scripts wait for this line).
    await Promise.race([waitUntilRunning(workers), running]);
    console.log(`pgdr worker polling ${queues.join(', ')} on ${config.temporal.address}`);
    await running;
    console.log('pgdr worker stopped');
  } finally {
    await sessions.close();
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  // Bad flags are usage errors (2), as with the CLI.
  process.exit((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
});
