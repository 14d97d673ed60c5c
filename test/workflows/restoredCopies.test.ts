/**
 * restoredCopies with stub agents: each destination node's agent is asked about its own
 * directories only (the queue names the node; the input does not), and a node that does not answer is an outcome, not a failure. The real
 * agent, end to end, is in dropRestore.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { workflowBundle } from '../helpers/cluster.js';
import { freshQueue, stackConfig, temporalClient, workerConnection } from '../helpers/stack.js';
import { runWorkersUntil } from '../helpers/workers.js';
import { restoredCopies } from '../../workflows/restoredCopies.js';
import type { CopyFacts } from '../../domain/restoredCopy.js';

describe('restoredCopies with stub agents', () => {
  it('asks each node about its own directories and reports a silent node with its error instead of failing', async () => {
    const config = stackConfig();
    const control = freshQueue('copies-control');
    const asked: unknown[] = [];
    const connection = await workerConnection(config);
    const fact = (dataDir: string): CopyFacts => ({ dataDir, contents: 'pgData', markerWorkflowId: 'w', pid: null, port: null });
    const workers = [
      await Worker.create({ connection, taskQueue: control, workflowBundle: await workflowBundle(), activities: {} }),
      await Worker.create({
        connection,
        taskQueue: `${control}-a`,
        activities: { inspectRestoredCopies: async (input: { dataDirs: string[] }) => (asked.push(input), input.dataDirs.map(fact)) },
      }),
      await Worker.create({
        connection,
        taskQueue: `${control}-b`,
        activities: {
          inspectRestoredCopies: async () => {
            throw ApplicationFailure.nonRetryable('unknown node "b" in cluster "stub"', 'UnknownNodeError');
          },
        },
      }),
    ];
    const { client, close } = await temporalClient(config);
    try {
      const nodes = [
        { node: 'a', taskQueue: `${control}-a`, dataDirs: ['/r/1', '/r/2'] },
        { node: 'b', taskQueue: `${control}-b`, dataDirs: ['/r/3'] },
      ];
      const workflowId = freshQueue('copies-test');
      const out = await runWorkersUntil(workers, () =>
        client.workflow.execute(restoredCopies, { taskQueue: control, workflowId, args: [{ cluster: 'stub', nodes }] }),
      );
      expect(out).toEqual([
        { node: 'a', facts: [fact('/r/1'), fact('/r/2')] },
        { node: 'b', error: 'unknown node "b" in cluster "stub"' },
      ]);
      expect(asked).toEqual([{ dataDirs: ['/r/1', '/r/2'] }]);
      // The Temporal UI shows which node each activity was for.
      const history = await client.workflow.getHandle(workflowId).fetchHistory();
      const summaries = history.events!.flatMap((e) =>
        e.activityTaskScheduledEventAttributes ? [JSON.parse(Buffer.from(e.userMetadata!.summary!.data!).toString())] : [],
      );
      expect(summaries.sort()).toEqual(['on node a', 'on node b']);
    } finally {
      await close();
      await connection.close();
    }
  });
});
