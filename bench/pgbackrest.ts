/**
 * The pgbackrest method: wall time of pgdr's backup workflow against bare `pgbackrest backup`
 * with the same generated config, on the bench database, in the same run. The bench primary
 * archives through `pgdr wal push --via pgbackrest` for the duration; its own setting is
 * restored (ALTER SYSTEM RESET) afterwards.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { psql } from '../scripts/stack/postgres.js';
import { backupInput } from '../control/inputs.js';
import { createControlActivities } from '../activities/control.js';
import { createNodeActivities } from '../activities/node.js';
import { pgbackrest } from '../adapters/pgbackrest.js';
import { workflowsPath } from '../worker/workers.js';
import { backup } from '../workflows/backup.js';
import type { BenchRow } from './backup.js';
import { benchCluster, benchStack, median } from './stack.js';

export async function pgbackrestBench(): Promise<BenchRow[]> {
  const { layout, plan, secrets } = await benchStack();
  const runs = Number(process.env.PGDR_BENCH_RUNS ?? 3);
  // A pgbackrest cluster over the bench primary, with a fresh repo prefix.
  const { run, config, deps, agentQueue } = await benchCluster(layout, 'pbbench', (demo) => ({
    ...demo,
    method: 'pgbackrest',
    backup: { ...demo.backup, verify: false, schedules: {} },
  }));
  try {
    await pgbackrest(deps, 'pbbench', 'primary', ['stanza-create']);

    // Bare pgbackrest, same config and environment.
    const rawTimes: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await pgbackrest(deps, 'pbbench', 'primary', ['--type=full', 'backup']);
      rawTimes.push((performance.now() - t0) / 1000);
    }

    // pgdr's backup workflow (verification off, as above), workers in this process.
    const connection = await NativeConnection.connect({ address: config.temporal.address });
    const control = await Worker.create({
      connection,
      taskQueue: config.temporal.taskQueue,
      workflowsPath,
      activities: createControlActivities(deps),
    });
    const agent = await Worker.create({
      connection,
      taskQueue: agentQueue,
      activities: createNodeActivities({ ...deps, cluster: 'pbbench', node: 'primary' }),
    });
    const clientConn = await Connection.connect({ address: config.temporal.address });
    const client = new Client({ connection: clientConn });
    const pgdrTimes: number[] = [];
    await control.runUntil(
      agent.runUntil(async () => {
        for (let i = 0; i < runs; i++) {
          const t0 = performance.now();
          await client.workflow.execute(backup, {
            taskQueue: config.temporal.taskQueue,
            workflowId: `backup/pbbench/bench-${run}-${i}`,
            args: [{ ...backupInput(config, 'pbbench', 'full', 'bench'), expire: false }],
          });
          pgdrTimes.push((performance.now() - t0) / 1000);
        }
      }),
    );
    await clientConn.close();
    await connection.close();
    const r = median(rawTimes);
    const p = median(pgdrTimes);
    return [
      { metric: 'bare pgbackrest backup --type=full (zst, repo in S3): seconds', value: r.toFixed(2) },
      { metric: 'pgdr backup workflow, method pgbackrest (no verify): seconds', value: p.toFixed(2) },
      { metric: 'wall time ratio pgdr / bare pgbackrest', value: (p / r).toFixed(3), target: '<= 1.05' },
    ];
  } finally {
    await psql(
      layout,
      plan,
      plan.primary.port,
      'alter system reset archive_command; alter system reset restore_command; select pg_reload_conf();',
      secrets,
    );
  }
}
