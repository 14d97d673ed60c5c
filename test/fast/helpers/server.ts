/**
 * The fast tier's Temporal: a dev server of its own (the `temporal` CLI that scripts/bootstrap.sh
 * installs) on a free port, with pgdr's search attributes, and the real workflows bundled once.
 * No Postgres, no MinIO, no stack: activities are stubs (fakeCluster.ts).
 */
import { join } from 'node:path';
import { homedir } from 'node:os';
import { spawn } from 'node:child_process';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { devServerArgs } from '../../../cli/standalone.js';
import { repoRoot } from '../../../scripts/stack/layout.js';
import { findTool, freePort, portOpen, waitFor } from '../../../scripts/stack/procs.js';

/** The temporal CLI: on PATH, else where bootstrap puts it. */
export function temporalBinary(): string {
  return findTool('temporal', join(process.env.PGDR_TOOLS_DIR ?? join(homedir(), '.cache', 'pgdr', 'tools'), 'bin'));
}

/** A running dev server: its address, and how to stop it. */
export interface DevServer {
  address: string;
  teardown(): Promise<void>;
}

/**
 * `temporal server start-dev --headless` on a free port, in memory, with pgdr's search attributes.
 * Started here rather than by the SDK's TestWorkflowEnvironment, whose 5 s start-up limit a busy
 * machine misses; killed by teardown(), or with this process.
 */
export async function startDevServer(): Promise<DevServer> {
  const port = await freePort();
  const child = spawn(temporalBinary(), devServerArgs({ port, httpPort: await freePort(), metricsPort: await freePort() }), {
    stdio: 'ignore',
  });
  const kill = () => void child.kill('SIGKILL');
  process.once('exit', kill);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(`temporal dev server on port ${port}`, () => portOpen(port), 120_000);
  return {
    address: `127.0.0.1:${port}`,
    async teardown() {
      process.off('exit', kill);
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The real workflows (workflows/index.ts), bundled: a few seconds, so once per run or file. */
export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: join(repoRoot, 'workflows', 'index.ts'), logger: quietLogger });
}

/** Quick cancellation: blocked stubs heartbeat, and a cancel reaches them at the next beat. */
export const WORKER_HEARTBEATS = {
  maxHeartbeatThrottleInterval: '100 milliseconds',
  defaultHeartbeatThrottleInterval: '100 milliseconds',
} as const;

const quiet = () => undefined;
const quietLogger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: console.warn, error: console.error };
