/**
 * Agents bound to their node: an agent built for one node does its work with no node in the
 * input, accepts an older workflow's task that names that node, and refuses (non-retryable,
 * both nodes named) one that names another. The control worker has no node activities.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it, beforeAll } from 'vitest';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { createNodeActivities } from '../../activities/node.js';
import { createControlActivities } from '../../activities/control.js';
import { UnknownNodeError } from '../../domain/errors.js';
import type { NodeProbe } from '../../domain/status.js';
import { freshQueue, stackConfig, temporalClient, workerConnection } from '../helpers/stack.js';
import { runWorkersUntil } from '../helpers/workers.js';
import { createS3Client, listKeys } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { baseFolder } from '../../adapters/catalogStore.js';
import { backupId } from '../../domain/naming.js';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
let bundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  bundle = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../helpers/callActivityWorkflow.ts', import.meta.url)),
    logger: quiet as never,
  });
});

/** Schedules each call in turn (activity, input, attempts) against the given activity workers; returns results or errors. */
async function calls(
  agents: { queue: string; activities: object }[],
  list: [queue: string, activity: string, input: unknown, attempts: number][],
) {
  const config = stackConfig();
  const control = freshQueue('bind-wf');
  const connection = await workerConnection(config);
  const workers = [
    await Worker.create({ connection, taskQueue: control, workflowBundle: bundle, activities: {} }),
    ...(await Promise.all(agents.map((a) => Worker.create({ connection, taskQueue: a.queue, activities: a.activities })))),
  ];
  const { client, close } = await temporalClient(config);
  try {
    return await runWorkersUntil(workers, async () => {
      const out: unknown[] = [];
      for (const args of list) {
        out.push(
          await client.workflow
            .execute('callActivity', { taskQueue: control, workflowId: freshQueue('bind-call'), args })
            .catch((err: unknown) => err),
        );
      }
      return out;
    });
  } finally {
    await close();
    await connection.close();
  }
}

function activityFailure(err: unknown): { activity: ActivityFailure; cause: ApplicationFailure } {
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const activity = (err as WorkflowFailedError).cause as ActivityFailure;
  expect(activity).toBeInstanceOf(ActivityFailure);
  return { activity, cause: activity.cause as ApplicationFailure };
}

describe('node agents bound to their node', () => {
  it('runs a task for its own node, with or without the node named, and refuses one for another node', async () => {
    const config = stackConfig();
    const queue = freshQueue('bind-primary');
    const agent = createNodeActivities({ config, cluster: 'demo', node: 'primary' });
    const [plain, legacy, other, otherCluster] = await calls(
      [{ queue, activities: agent }],
      [
        [queue, 'probeNode', undefined, 3],
        [queue, 'probeNode', { cluster: 'demo', node: 'primary' }, 3],
        [queue, 'probeNode', { cluster: 'demo', node: 'replica' }, 3],
        [queue, 'probeNode', { cluster: 'elsewhere', node: 'primary' }, 3],
      ],
    );
    // The real primary answers, in both input shapes.
    expect((plain as NodeProbe).role).toBe('primary');
    expect((legacy as NodeProbe).role).toBe('primary');

    const { activity, cause } = activityFailure(other);
    expect(activity.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause.type).toBe('NodeMismatchError');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toBe(
      'probeNode for node "replica" of cluster "demo" reached the agent of node "primary" of cluster "demo"; refused\n' +
        'HINT: each agent serves the one node its queue belongs to (pgdr.yaml refuses shared queues): check that the agent on this host runs the same pgdr.yaml as the control worker',
    );
    expect(cause.details?.[0]).toEqual({
      code: 'NODE_MISMATCH',
      activity: 'probeNode',
      cluster: 'demo',
      node: 'replica',
      agentCluster: 'demo',
      agentNode: 'primary',
    });

    const wrongCluster = activityFailure(otherCluster).cause;
    expect(wrongCluster.type).toBe('NodeMismatchError');
    expect(wrongCluster.message).toContain(
      'probeNode for node "primary" of cluster "elsewhere" reached the agent of node "primary" of cluster "demo"',
    );
  });

  it('cannot be built for a node the config does not have', () => {
    expect(() => createNodeActivities({ config: stackConfig(), cluster: 'demo', node: 'nosuch' })).toThrow(UnknownNodeError);
  });
});

describe('the streaming activity on a node that is not the role it was chosen for', () => {
  it('refuses at once, non-retryable, naming the node and the role, and stores nothing', async () => {
    const config = stackConfig();
    const primary = freshQueue('role-primary');
    const replica = freshQueue('role-replica');
    const ids = [backupId(new Date(), 'full'), backupId(new Date(Date.now() + 1), 'full')];
    const [asStandby, asPrimary] = await calls(
      [
        { queue: primary, activities: createNodeActivities({ config, cluster: 'demo', node: 'primary' }) },
        { queue: replica, activities: createNodeActivities({ config, cluster: 'demo', node: 'replica' }) },
      ],
      [
        [primary, 'uploadBaseBackup', { backupId: ids[0], expectRole: 'standby' }, 3],
        [replica, 'uploadBaseBackup', { backupId: ids[1], expectRole: 'primary' }, 3],
      ],
    );
    const first = activityFailure(asStandby);
    expect(first.activity.retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    expect(first.cause.type).toBe('BackupSourceChangedError');
    expect(first.cause.message).toBe(
      'node "primary" of cluster "demo" is a primary now, not the standby the backup chose to stream from; nothing was stored',
    );
    expect(first.cause.details?.[0]).toEqual({ code: 'BACKUP_SOURCE_CHANGED', cluster: 'demo', node: 'primary', wanted: 'standby' });
    expect(activityFailure(asPrimary).cause.message).toBe(
      'node "replica" of cluster "demo" is a standby now, not the primary the backup chose to stream from; nothing was stored',
    );
    const s3 = createS3Client(config.storage, createSecretReader());
    for (const id of ids) expect(await listKeys(s3, config.storage.bucket, baseFolder(config.storage, 'demo', id))).toEqual([]);
  });
});

describe("the streaming activity over the node's socket", () => {
  it('streams over socketDir when it is set: a directory with no server socket fails naming the socket, storing nothing', async () => {
    const config = structuredClone(stackConfig());
    const socketDir = '/nonexistent-pgdr-socket';
    config.clusters.demo!.nodes.primary!.socketDir = socketDir;
    const queue = freshQueue('socket-primary');
    const id = backupId(new Date(), 'full');
    const [out] = await calls(
      [{ queue, activities: createNodeActivities({ config, cluster: 'demo', node: 'primary' }) }],
      [[queue, 'uploadBaseBackup', { backupId: id }, 1]],
    );
    const { cause } = activityFailure(out);
    expect(cause.type).toBe('ToolFailedError');
    expect(cause.message).toContain(
      `connection to server on socket "${socketDir}/.s.PGSQL.${config.clusters.demo!.nodes.primary!.port}" failed`,
    );
    const s3 = createS3Client(config.storage, createSecretReader());
    expect(await listKeys(s3, config.storage.bucket, baseFolder(config.storage, 'demo', id))).toEqual([]);
  });
});

describe('the control worker', () => {
  it('registers no node activity: a probeNode scheduled on its queue is not found there', async () => {
    const config = stackConfig();
    const control = createControlActivities({ config });
    const node = createNodeActivities({ config, cluster: 'demo', node: 'primary' });
    expect(Object.keys(control).filter((k) => k in node)).toEqual([]);
    expect(Object.keys(control)).toContain('lockHolder');

    const queue = freshQueue('bind-control');
    const [probe, holder] = await calls(
      [{ queue, activities: control }],
      [
        [queue, 'probeNode', undefined, 1],
        [queue, 'lockHolder', { cluster: 'nosuch-cluster' }, 1],
      ],
    );
    const { cause } = activityFailure(probe);
    expect(cause.type).toBe('NotFoundError');
    expect(cause.message).toMatch(/^Activity function probeNode is not registered on this Worker/);
    // The same worker runs control activities.
    expect(holder).toBeNull();
  });
});
