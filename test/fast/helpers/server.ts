/**
 * The fast tier's Temporal: a dev server of its own (the `temporal` CLI that scripts/bootstrap.sh
 * installs) on a free port, with pgdr's search attributes, and the real workflows bundled once.
 * No Postgres, no MinIO, no stack: activities are stubs (fakeCluster.ts).
 */
import { join } from 'node:path';
import { homedir } from 'node:os';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { PgdrCluster, PgdrProcedure } from '../../../domain/naming.js';
import { repoRoot } from '../../../scripts/stack/layout.js';
import { findTool } from '../../../scripts/stack/procs.js';

/** The temporal CLI: on PATH, else where bootstrap puts it. */
export function temporalBinary(): string {
  return findTool('temporal', join(process.env.PGDR_TOOLS_DIR ?? join(homedir(), '.cache', 'pgdr', 'tools'), 'bin'));
}

/** A dev server on a free port (the SDK picks it), torn down with env.teardown(). */
export function startDevServer(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalBinary() },
      ip: '127.0.0.1',
      namespace: 'default',
      searchAttributes: [PgdrCluster, PgdrProcedure],
      log: { format: 'pretty', level: 'error' },
    },
  });
}

/** The real workflows (workflows/index.ts), bundled: a few seconds, so once per run or file. */
export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: join(repoRoot, 'workflows', 'index.ts'), logger: quietLogger });
}

/** Quick cancellation: blocked stubs heartbeat, and a cancel reaches them at the next beat. */
export const WORKER_HEARTBEATS = { maxHeartbeatThrottleInterval: '100 milliseconds', defaultHeartbeatThrottleInterval: '100 milliseconds' } as const;

const quiet = () => undefined;
const quietLogger = { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: console.warn, error: console.error };
