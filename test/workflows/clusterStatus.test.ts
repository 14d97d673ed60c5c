import { beforeAll, describe, expect, it } from 'vitest';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { api, freshQueue, stackConfig, temporalClient, workerConnection } from '../helpers/stack.js';
import { workflowsPath } from '../../worker/workers.js';
import { clusterStatus } from '../../workflows/clusterStatus.js';
import { PgdrCluster, PgdrProcedure } from '../../domain/naming.js';
import type { NodeProbe } from '../../domain/status.js';
import { runWorkersUntil } from '../helpers/workers.js';

describe('clusterStatus end to end', () => {
  it('reports one primary and one streaming standby with lag figures, on the real demo cluster', async () => {
    const res = await api('GET', '/api/v1/clusters/demo/status');
    expect(res.status).toBe(200);
    const s = res.body;
    expect(s.primary).toBe('primary');
    expect(s.warnings).toEqual([]);
    const primary = s.nodes.find((n: { node: string }) => n.node === 'primary');
    const replica = s.nodes.find((n: { node: string }) => n.node === 'replica');
    expect(primary.probe).toMatchObject({ role: 'primary', timeline: 1, dataChecksums: true, archiveMode: 'on' });
    expect(primary.probe.currentLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(primary.probe.archiver.failedCount).toBe(0);
    expect(primary.probe.replication).toHaveLength(1);
    expect(primary.probe.replication[0]).toMatchObject({ state: 'streaming', replayLagBytes: expect.any(Number) });
    expect(replica.probe).toMatchObject({ role: 'standby', timeline: 1, walReceiver: { status: 'streaming', slotName: 'demo_replica' } });
    expect(replica.lagBytes).toBeGreaterThanOrEqual(0);
    expect(replica.probe.systemIdentifier).toBe(primary.probe.systemIdentifier);
    expect(replica.taskQueue).toBe('pgdr-node-demo-replica');
  });

  it('is visible in Temporal with the PgdrCluster and PgdrProcedure search attributes', async () => {
    const res = await api('GET', '/api/v1/clusters/demo/status');
    expect(res.body.workflowId).toMatch(/^clusterStatus\/demo\/\d{4}-/);
    expect(res.body.uiUrl).toContain(encodeURIComponent(res.body.workflowId));
    const { client, close } = await temporalClient();
    try {
      const d = await client.workflow.getHandle(res.body.workflowId).describe();
      expect(d.status.name).toBe('COMPLETED');
      expect(d.typedSearchAttributes.get(PgdrCluster)).toBe('demo');
      expect(d.typedSearchAttributes.get(PgdrProcedure)).toBe('clusterStatus');
    } finally {
      await close();
    }
  });
});

describe('clusterStatus with stub agents', () => {
  let bundle: WorkflowBundleWithSourceMap;
  beforeAll(async () => {
    bundle = await bundleWorkflowCode({
      workflowsPath,
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
    });
  });
  const config = stackConfig();
  const probe = (node: string, role: 'primary' | 'standby', over: Partial<NodeProbe> = {}): NodeProbe => ({
    node,
    role,
    systemIdentifier: '1',
    serverVersion: 150000,
    timeline: 1,
    currentLsn: role === 'primary' ? '0/5000000' : null,
    receiveLsn: null,
    replayLsn: role === 'standby' ? '0/4000000' : null,
    replayDelaySeconds: null,
    replayPaused: role === 'standby' ? false : null,
    synchronousStandbyNames: '',
    dataChecksums: true,
    archiveMode: 'on',
    archiver: { archivedCount: 0, lastArchivedWal: null, lastArchivedAt: null, failedCount: 0, lastFailedWal: null, lastFailedAt: null },
    replication: [],
    walReceiver:
      role === 'standby' ? { status: 'streaming', senderHost: null, senderPort: null, slotName: null, receivedTimeline: 1 } : null,
    probedAt: new Date().toISOString(),
    ...over,
  });

  async function run(agents: Record<string, () => Promise<NodeProbe>>, maxLagBytes?: number) {
    const control = freshQueue('status-control');
    const connection = await workerConnection(config);
    const workers = [
      await Worker.create({ connection, taskQueue: control, workflowBundle: bundle, activities: {} }),
      ...(await Promise.all(
        Object.entries(agents).map(([node, fn]) =>
          Worker.create({ connection, taskQueue: `${control}-${node}`, activities: { probeNode: fn } }),
        ),
      )),
    ];
    const { client, close } = await temporalClient(config);
    try {
      const nodes = Object.keys(agents).map((name) => ({ name, taskQueue: `${control}-${name}` }));
      return await runWorkersUntil(workers, () =>
        client.workflow.execute(clusterStatus, {
          taskQueue: control,
          workflowId: freshQueue('status-test'),
          args: [{ cluster: 'stub', nodes, maxLagBytes }],
        }),
      );
    } finally {
      await close();
      await connection.close();
    }
  }

  it('computes standby lag against the primary and warns above the threshold', async () => {
    const s = await run({ a: async () => probe('a', 'primary'), b: async () => probe('b', 'standby') }, 1024);
    expect(s.primary).toBe('a');
    expect(s.nodes.find((n) => n.node === 'b')!.lagBytes).toBe(0x1000000);
    expect(s.warnings).toEqual(['standby b lags 16777216 bytes, above 1024']);
  });

  it("reports an unreachable node with the agent's error instead of failing", async () => {
    const s = await run({
      a: async () => probe('a', 'primary'),
      b: async () => {
        throw ApplicationFailure.nonRetryable('cannot connect to node "b"', 'PostgresUnreachableError');
      },
    });
    const b = s.nodes.find((n) => n.node === 'b')!;
    expect(b.reachable).toBe(false);
    expect(b.error).toBe('cannot connect to node "b"');
    expect(s.warnings).toEqual(['node b unreachable: cannot connect to node "b"']);
  });

  it('flags two primaries as split brain and a standby on another timeline', async () => {
    const s = await run({ a: async () => probe('a', 'primary'), b: async () => probe('b', 'primary', { timeline: 2 }) });
    expect(s.primary).toBeNull();
    expect(s.warnings).toContain('more than one primary: a, b (split brain?)');
  });
});
