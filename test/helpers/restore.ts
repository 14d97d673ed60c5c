/** Starting a restore through the API and waiting for its report; removing restored copies afterwards. */
import { expect } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../../activities/gateway.js';
import type { RestoreReport } from '../../common/restore.js';
import type { clients } from './cluster.js';
import type { OwnPostgres } from './postgres.js';

type Clients = Awaited<ReturnType<typeof clients>>;

/** POST /restores (expecting 202), then the workflow's report. Records the directory in `made`. */
export async function restoreAndWait(c: Clients, cluster: string, body: Record<string, unknown>, made: string[]): Promise<{ report: RestoreReport; workflowId: string }> {
  const res = await c.call('POST', `/api/v1/clusters/${cluster}/restores`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  made.push(res.body.destination.dataDir);
  const report = (await c.temporal.workflow.getHandle(res.body.workflowId).result()) as RestoreReport;
  return { report, workflowId: res.body.workflowId };
}

/** Stops a restored copy (if it runs) and removes its directory. */
export async function discardRestore(pg: Pick<OwnPostgres, 'layout'>, dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'postmaster.pid'))) {
    await runTool({ tool: 'pg_ctl', binDir: pg.layout.pgBin, args: ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], osUser: pg.layout.pgUser }).catch(() => undefined);
  }
  rmSync(dataDir, { recursive: true, force: true });
}
