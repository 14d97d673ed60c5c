/**
 * A test's own cluster: the shared stack's Postgres nodes under a unique cluster name, with
 * its own S3 prefix and task queues, so tests never see each other's backups, locks or
 * schedules (which persist in the stack's Temporal database across runs).
 */
import { inject } from 'vitest';
import { chmodSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parse, stringify } from 'yaml';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { parseConfig } from '../../config/load.js';
import type { PgdrConfig } from '../../config/schema.js';
import { createWorkers, workflowsPath, type CreateWorkersOptions } from '../../worker/workers.js';
import { startArchivers } from '../../worker/archivers.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { connectTemporalClient, connectWorker } from '../../adapters/temporalConnection.js';
import type { Client } from '@temporalio/client';
import { buildServer } from '../../api/server.js';
import { execa } from 'execa';
import { repoRoot } from '../../scripts/stack/layout.js';

export interface TestCluster {
  name: string;
  config: PgdrConfig;
  configPath: string;
}

/**
 * adjust changes the cluster's config; adjustRoot the rest (e.g. a Temporal or S3 endpoint of
 * the test's own, for tests that stop those services).
 */
export function testCluster(
  prefix: string,
  adjust: (cluster: Record<string, any>) => void = () => undefined,
  adjustRoot: (raw: Record<string, any>) => void = () => undefined,
): TestCluster {
  const raw = parse(readFileSync(inject('configPath'), 'utf8'));
  const tag = `${Date.now().toString(36).slice(-5)}${Math.random().toString(36).slice(2, 5)}`;
  const name = `${prefix}-${tag}`;
  const demo = raw.clusters.demo;
  const cluster = {
    ...demo,
    nodes: Object.fromEntries(Object.entries(demo.nodes).map(([n, v]) => [n, { ...(v as object), agentQueue: `pgdr-${name}-${n}` }])),
  };
  // No schedules unless a test asks: schedules outlive the test in the stack's Temporal database.
  cluster.backup = { ...cluster.backup, schedules: {} };
  cluster.archive = { ...cluster.archive, checkCron: null };
  cluster.drill = { ...cluster.drill, cron: null };
  // Restored copies get ports of the test's own (files run in parallel on one host).
  const portFrom = 20000 + 50 * Math.floor(Math.random() * 200);
  cluster.restore = { ...cluster.restore, portFrom, portTo: portFrom + 49 };
  adjust(cluster);
  raw.clusters = { [name]: cluster };
  raw.storage.prefix = `test/${name}`;
  raw.temporal.taskQueue = `pgdr-${name}`;
  adjustRoot(raw);
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-test-'));
  // Postgres (another OS user) reads it when archive_command runs `pgdr wal push`; it holds no secret.
  chmodSync(dir, 0o755);
  const configPath = join(dir, 'pgdr.yaml');
  writeFileSync(configPath, stringify(raw), { mode: 0o644 });
  return { name, config: parseConfig(raw, configPath), configPath };
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Workflow code bundled once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  return (bundle ??= bundleWorkflowCode({ workflowsPath, logger: quiet as never }));
}

/** Control worker + every node agent of the test cluster, in this process. */
/**
 * The cluster's control worker and node agents, in this process. `controlActivities` replaces the
 * control worker's activities (a test wraps a real one, to hold a run at a known step).
 */
export async function startWorkers(
  tc: TestCluster,
  opts: { controlActivities?: CreateWorkersOptions['controlActivities'] } = {},
): Promise<{ stop: () => Promise<void> }> {
  const connection = await connectWorker(tc.config.temporal);
  const plan = { control: true, agents: Object.keys(tc.config.clusters[tc.name]!.nodes).map((node) => ({ cluster: tc.name, node })) };
  const workers = await createWorkers({
    config: tc.config,
    connection,
    plan,
    workflowBundle: await workflowBundle(),
    shutdownGraceTime: '5 seconds',
    ...opts,
  });
  // Each agent archives its node's WAL as a deployed agent does (it serves only this test cluster's archive_command).
  const archivers = startArchivers(tc.config, plan.agents);
  const running = Promise.all(workers.map((w) => w.run()));
  return {
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
      await archivers.stop();
      await connection.close();
      // The archivers' state for this cluster: nothing of a finished test stays in the stack.
      rmSync(join(tc.config.clusters[tc.name]!.archive.agent.stateDir, tc.name), { recursive: true, force: true });
    },
  };
}

export async function clients(tc: TestCluster) {
  const { client: temporal, connection } = await connectTemporalClient(tc.config.temporal);
  const s3 = createS3Client(tc.config.storage, createSecretReader());
  const api = buildServer({ config: tc.config, temporal, s3, token: 'test-token' });
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => {
    const res = await api.inject({
      method,
      url,
      headers: { authorization: 'Bearer test-token' },
      ...(body !== undefined ? { payload: body as object } : {}),
    });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
  };
  const text = async (method: 'GET' | 'POST', url: string) => {
    const res = await api.inject({ method, url, headers: { authorization: 'Bearer test-token' } });
    return { status: res.statusCode, body: res.body, contentType: String(res.headers['content-type'] ?? '') };
  };
  // The same API on a real port for the `pgdr` CLI, opened on the first cli() call.
  let listening: Promise<string> | undefined;
  const cli = async (args: string[]) => {
    listening ??= api.listen({ host: '127.0.0.1', port: 0 });
    const res = await execa(join(repoRoot, 'bin/pgdr'), args, {
      env: { PGDR_API_URL: await listening, PGDR_API_TOKEN: 'test-token' },
      reject: false,
    });
    return { exitCode: res.exitCode ?? -1, stdout: res.stdout, stderr: res.stderr };
  };
  return {
    temporal,
    s3,
    call,
    text,
    cli,
    close: async () => {
      await api.close();
      await connection.close();
    },
  };
}

/** The innermost cause of a run's failure (its pgdr error: type and message); throws if the run did not fail. */
export async function rootFailure(temporal: Client, workflowId: string): Promise<{ type?: string; message: string }> {
  const err = await temporal.workflow
    .getHandle(workflowId)
    .result()
    .then(
      () => null,
      (e: Error) => e,
    );
  if (!err) throw new Error(`${workflowId} completed; expected it to fail`);
  let cause: unknown = err;
  while ((cause as { cause?: unknown }).cause) cause = (cause as { cause: unknown }).cause;
  return cause as { type?: string; message: string };
}
