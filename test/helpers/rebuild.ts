/**
 * Watching a replica rebuild from a test: the old data directory renamed aside, the standby
 * streaming on its slot, and a rebuild started through the API with the aside directory
 * sampled (every 50 ms) while it runs.
 */
import { expect } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { runTool } from '../../adapters/gateway.js';
import type { RebuildReport } from '../../domain/replication.js';
import { SET_ASIDE_INFIX } from '../../domain/naming.js';
import { resultOf, type ReplicatedCluster } from './replication.js';

/** `<dataDir>.pgdr-old-*` directories beside a data directory. */
export const asideOf = (dataDir: string): string[] =>
  readdirSync(dirname(dataDir)).filter((f) => f.startsWith(`${basename(dataDir)}${SET_ASIDE_INFIX}`));

export async function pgCtl(rc: ReplicatedCluster, dataDir: string, ...args: string[]): Promise<void> {
  await runTool({ tool: 'pg_ctl', binDir: rc.layout.pgBin, args: ['-D', dataDir, ...args], osUser: rc.layout.pgUser });
}

/** Streaming on its slot according to the node `primary` (default: the node named primary). */
export async function streams(rc: ReplicatedCluster, node: string, primary = 'primary'): Promise<boolean> {
  const slot = rc.tc.config.clusters[rc.tc.name]!.nodes[node]!.slot!;
  return (
    (
      await rc.sql(
        primary,
        `select count(*) from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid where s.slot_name = '${slot}' and r.state = 'streaming'`,
      )
    ).trim() === '1'
  );
}

export interface RebuildSample {
  step: string;
  aside: string[];
  /** The aside directory still holds the test's damaged.marker. */
  marker: boolean;
}

/** Starts a rebuild of `node` through the API and samples, while it runs, its step and the aside directory. */
export async function rebuildWatching(
  rc: ReplicatedCluster,
  source: 'primary' | 'backup',
  node = 'replica',
): Promise<{ report: RebuildReport; seen: RebuildSample[]; workflowId: string }> {
  const dataDir = rc.dataDir(node);
  const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/nodes/${node}/rebuild`, { source });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const handle = rc.c.temporal.workflow.getHandle(res.body.workflowId);
  const seen: RebuildSample[] = [];
  let done = false;
  const watching = (async () => {
    while (!done) {
      const p = await handle.query<{ step: string }>('progress').catch(() => null);
      const aside = asideOf(dataDir);
      if (p) seen.push({ step: p.step, aside, marker: aside.some((a) => existsSync(join(dirname(dataDir), a, 'damaged.marker'))) });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    return { report: await resultOf<RebuildReport>(rc, res.body.workflowId), seen, workflowId: res.body.workflowId as string };
  } finally {
    done = true;
    await watching;
  }
}
