/**
 * What the Temporal UI shows of pgdr's runs, on a cluster of the test's own (so nothing else
 * commits on its primary): a start through the API names cluster, procedure, target and who
 * started it; the lock child carries the cluster's search attributes; a backup's current details
 * follow its steps. And the status lag column: on an idle primary a standby's lag (the primary's
 * replay_lag) stays near zero while the time since its last replayed commit keeps growing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { until } from '../helpers/stack.js';
import { replicatedCluster, type ReplicatedCluster } from '../helpers/replication.js';
import { PgdrCluster, PgdrProcedure, lockWorkflowId } from '../../domain/naming.js';
import type { NodeStatus } from '../../domain/status.js';

let rc: ReplicatedCluster;

beforeAll(async () => {
  // Backups throttled (1 MB/s), so that a run stays on its streaming step long enough to be seen.
  rc = await replicatedCluster('uidet', { adjust: (cl) => void (cl.backup = { ...cl.backup, maxRateKBps: 1024 }) });
}, 180_000);

afterAll(async () => {
  await rc?.stop();
});

/** The run's current details, as the UI reads them (the SDK's built-in metadata query). */
const currentDetails = (h: WorkflowHandle) =>
  h.query<{ currentDetails?: string }>('__temporal_workflow_metadata').then((m) => m.currentDetails ?? '');

describe('the Temporal UI view of a backup started through the API', () => {
  let workflowId: string;
  const seen: string[] = [];

  it('runs, and its current details follow its steps to "done", the same text its progress query answers', async () => {
    const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type: 'full' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    workflowId = res.body.workflowId;
    const h = rc.c.temporal.workflow.getHandle(workflowId);
    const result = h.result();
    let done = false;
    void result.finally(() => (done = true)).catch(() => undefined);
    while (!done) {
      const d = await currentDetails(h).catch(() => '');
      if (d && seen.at(-1) !== d) seen.push(d);
      await new Promise((r) => setTimeout(r, 100));
    }
    await result;
    const last = await currentDetails(h);
    if (seen.at(-1) !== last) seen.push(last);
    expect(last).toBe('done');
    expect((await h.query<{ step: string }>('progress')).step).toBe(last);
    // The throttled copy is seen while it runs: the details changed during the run, not only at its end.
    expect(
      seen.some((d) => /^(streaming pg_basebackup to storage|running pgbackrest backup --type=full)$/.test(d)),
      seen.join(' | '),
    ).toBe(true);
    expect(seen.length, seen.join(' | ')).toBeGreaterThanOrEqual(2);
  });

  it('names cluster, procedure, target and "api" in its static summary and details', async () => {
    const d = await rc.c.temporal.workflow.getHandle(workflowId).describe();
    const from = rc.tc.config.clusters[rc.tc.name]!.backup.from;
    expect(await d.staticSummary()).toBe(`backup ${rc.tc.name}: full backup from the ${from} (by api)`);
    expect(await d.staticDetails()).toBe(
      [`- cluster: ${rc.tc.name}`, '- procedure: backup', `- target: full backup from the ${from}`, '- started by: api'].join('\n'),
    );
  });

  it("held a lock child that carries the cluster's search attributes and names its holder", async () => {
    const d = await rc.c.temporal.workflow.getHandle(lockWorkflowId(rc.tc.name)).describe();
    expect(d.type).toBe('clusterLock');
    expect(d.parentExecution?.workflowId).toBe(workflowId);
    expect(d.typedSearchAttributes.get(PgdrCluster)).toBe(rc.tc.name);
    expect(d.typedSearchAttributes.get(PgdrProcedure)).toBe('clusterLock');
    expect(await d.staticSummary()).toBe(`clusterLock ${rc.tc.name} (by workflow ${workflowId})`);
    // So the UI (and anyone) can list a cluster's locks, and a count of its backups never counts them.
    const query = `PgdrCluster = '${rc.tc.name}' AND PgdrProcedure = 'clusterLock'`;
    expect(
      await until('the lock to be visible by its search attributes', async () => (await rc.c.temporal.workflow.count(query)).count === 1),
    ).toBe(true);
    expect((await rc.c.temporal.workflow.count(`PgdrCluster = '${rc.tc.name}' AND PgdrProcedure = 'backup'`)).count).toBe(1);
  });
});

describe('the status lag column', () => {
  const replicaOf = (body: { nodes: NodeStatus[] }) => body.nodes.find((n) => n.node === 'replica')!;
  const status = async () => {
    const res = await rc.c.call('GET', `/api/v1/clusters/${rc.tc.name}/status`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body;
  };

  it('stays near zero on an idle primary, while the time since the last replayed commit keeps growing', async () => {
    // One commit, replayed by the standby; then nothing commits on this cluster's primary.
    await rc.sql('primary', 'select txid_current()');
    // The insert position: that commit is not flushed at once, so the write position can stand before it.
    const lsn = (await rc.sql('primary', 'select pg_current_wal_insert_lsn()')).trim();
    await until(
      'the standby to replay the commit',
      async () => (await rc.sql('replica', `select pg_last_wal_replay_lsn() >= '${lsn}'`)).trim() === 't',
    );
    const first = replicaOf(await status());
    await new Promise((r) => setTimeout(r, 4000));
    const body = await status();
    const later = replicaOf(body);
    // What now() - pg_last_xact_replay_timestamp() reports has grown with the idle time...
    expect(later.probe!.replayDelaySeconds! - first.probe!.replayDelaySeconds!).toBeGreaterThanOrEqual(3.5);
    // ...while the lag, the primary's replay_lag of the standby, stays near zero.
    for (const s of [first, later]) {
      expect(s.lagSeconds, JSON.stringify(s)).toEqual(expect.any(Number));
      expect(s.lagSeconds!).toBeLessThan(1);
    }
    expect(body.warnings).toEqual([]);
    // pgdr status shows the lag, not the growing delay.
    const cli = await rc.cli(['status', rc.tc.name]);
    expect(cli.stdout).toContain('LAG (bytes / replay_lag)');
    expect(cli.stdout.split('\n').find((l) => l.startsWith('replica '))).toMatch(/\s0 B \/ 0\.\ds\s/);
  });

  it('shows "not streaming" for a standby the primary does not list', async () => {
    // Stop the standby's WAL receiver: the primary no longer lists it in pg_stat_replication.
    const conninfo = (await rc.sql('replica', 'show primary_conninfo')).trim();
    await rc.sql('replica', "alter system set primary_conninfo = ''");
    await rc.sql('replica', 'select pg_reload_conf()');
    try {
      await until(
        'the primary to stop listing the standby',
        async () => (await rc.sql('primary', 'select count(*) from pg_stat_replication')).trim() === '0',
      );
      const replica = replicaOf(await status());
      expect(replica.lagSeconds).toBeNull();
      const cli = await rc.cli(['status', rc.tc.name]);
      expect(cli.stdout.split('\n').find((l) => l.startsWith('replica '))).toMatch(/ \/ not streaming\s/);
    } finally {
      await rc.sql('replica', `alter system set primary_conninfo = '${conninfo.replace(/'/g, "''")}'`);
      await rc.sql('replica', 'select pg_reload_conf()');
    }
  });
});
