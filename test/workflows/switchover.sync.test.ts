/**
 * switchover on a cluster with synchronous replication (the primary waits for "replica"), a
 * second standby and a PgBouncer:
 *  - refused (412, the archiver named) while the primary's archiver fails; nothing changes;
 *  - the old primary becomes the synchronous standby of the new one, under a pgbench load with
 *    no failed transaction and no lost row;
 *  - the backup it starts afterwards (backupAfter) is of the new primary, on the new timeline,
 *    and a second switchover is refused (409, the backup named) while that backup runs;
 *  - and back, with synchronous_standby_names as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../../domain/catalog.js';
import type { SwitchoverReport } from '../../domain/replication.js';
import { pgbenchRun } from '../../scripts/stack/pgbench.js';
import { until } from '../helpers/stack.js';
import { expectNoClientFailed, replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';

let rc: ReplicatedCluster;
const sync = 'FIRST 1 (replica)';

beforeAll(async () => {
  // Backups throttled (1 MB/s) so that the one after the switchover runs long enough to be seen.
  rc = await replicatedCluster('swsync', {
    standbys: ['replica', 'third'],
    pgbouncer: true,
    adjust: (cl) => void (cl.backup = { ...cl.backup, maxRateKBps: 1024 }),
  });
  // The standbys report their pgdr node name (as pgdr writes primary_conninfo), and the primary
  // waits for "replica".
  for (const s of ['replica', 'third']) {
    const conninfo = (await rc.sql(s, 'show primary_conninfo')).trim();
    await rc.sql(s, `alter system set primary_conninfo = '${`${conninfo} application_name=${s}`.replace(/'/g, "''")}'`);
    await rc.sql(s, 'select pg_reload_conf()');
  }
  await rc.sql('primary', `alter system set synchronous_standby_names = '${sync}'`);
  await rc.sql('primary', 'select pg_reload_conf()');
  await until('replica synchronous', async () => (await syncStates('primary')).includes('replica:sync'), 60_000);
  await rc.sql('primary', 'create table sync_rows (id bigserial primary key, v int not null)');
}, 180_000);

afterAll(async () => {
  await rc?.stop();
});

/** `application_name:sync_state` of every streaming standby of a node, sorted. */
async function syncStates(node: string): Promise<string[]> {
  const out = await rc.sql(
    node,
    "select application_name || ':' || sync_state from pg_stat_replication where state = 'streaming' order by 1",
  );
  return out.trim().split('\n').filter(Boolean);
}

/** Runs of a procedure that did (or do) work: a refused run ends failed with its refusal once its caller has the answer. */
const count = async (procedure: string) => {
  const q = `PgdrCluster = '${rc.tc.name}' AND PgdrProcedure = '${procedure}'`;
  await until(
    'refused runs to close',
    async () => (await rc.c.temporal.workflow.count(`${q} AND ExecutionStatus = 'Running'`)).count === 0,
    30_000,
  );
  return (await rc.c.temporal.workflow.count(`${q} AND ExecutionStatus != 'Failed'`)).count;
};
const role = async (node: string) => ((await rc.sql(node, 'select pg_is_in_recovery()')).trim() === 't' ? 'standby' : 'primary');

describe('switchover with synchronous replication', () => {
  it("is refused while the primary's archiver fails (412, the failing segment named) and changes nothing", async () => {
    const before = await count('switchover');
    const archiveCommand = (await rc.sql('primary', 'show archive_command')).trim();
    await rc.sql('primary', "alter system set archive_command = 'false'");
    await rc.sql('primary', 'select pg_reload_conf()');
    try {
      await rc.sql('primary', 'insert into sync_rows (v) values (0)');
      await rc.sql('primary', 'select pg_switch_wal()');
      await until(
        'the archiver failing',
        async () =>
          (
            await rc.sql(
              'primary',
              "select failed_count > 0 and last_failed_time > coalesce(last_archived_time, 'epoch') from pg_stat_archiver",
            )
          ).trim() === 't',
        60_000,
      );
      const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'replica' });
      expect(res.status, JSON.stringify(res.body)).toBe(412);
      expect(res.body.error.code).toBe('REPLICATION_PRECONDITION_FAILED');
      expect(res.body.error.message).toMatch(/the primary's archiver is failing: last failure [0-9A-F]{24} at \S+, last success/);
    } finally {
      await rc.sql('primary', `alter system set archive_command = '${archiveCommand.replace(/'/g, "''")}'`);
      await rc.sql('primary', 'select pg_reload_conf()');
    }
    await until(
      'the archiver caught up',
      async () =>
        (
          await rc.sql(
            'primary',
            "select last_archived_time > coalesce(last_failed_time, 'epoch') and last_archived_wal >= last_failed_wal from pg_stat_archiver",
          )
        ).trim() === 't',
      60_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    expect(await count('switchover')).toBe(before);
    expect(await role('primary')).toBe('primary');
    expect(await syncStates('primary')).toEqual(['replica:sync', 'third:async']);
  }, 120_000);

  it('makes the old primary the synchronous standby, starts a backup of the new primary (a second switchover meanwhile 409), then switches back', async () => {
    const rows0 = Number((await rc.sql('primary', 'select count(*) from sync_rows')).trim());
    const load = pgbenchRun(rc.layout, {
      host: rc.bouncer!.host,
      port: rc.bouncer!.port,
      database: 'postgres',
      user: 'postgres',
      password: rc.secrets.superuserPassword,
      clients: 4,
      // Until the switchover and its backup have ended (finish() below), whatever the machine's pace.
      seconds: 200,
      script: 'insert into sync_rows (v) values (:client_id);',
    });
    await new Promise((r) => setTimeout(r, 3000));

    const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'replica', backupAfter: true });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const there = await resultOf<SwitchoverReport>(rc, res.body.workflowId);
    expect(there).toMatchObject({ oldPrimary: 'primary', newPrimary: 'replica', historyArchived: true, warnings: [] });
    expect(there.backupWorkflowId).toMatch(/^backup\//);

    // The candidate's name gave way to the old primary's, which now streams as the synchronous standby.
    expect((await rc.sql('replica', 'show synchronous_standby_names')).trim()).toBe('FIRST 1 (primary)');
    expect(await syncStates('replica')).toEqual(['primary:sync', 'third:async']);

    // The backup it started runs (throttled): a second switchover is refused, naming it.
    const busy = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'primary' });
    expect(busy.status, JSON.stringify(busy.body)).toBe(409);
    expect(busy.body.error).toMatchObject({ code: 'CLUSTER_BUSY', runningWorkflowId: there.backupWorkflowId });
    const backup = (await resultOf<{ manifest: BackupManifest }>(rc, there.backupWorkflowId!)).manifest;
    expect(backup).toMatchObject({ status: 'good', type: 'full', sourceNode: 'replica', timeline: there.newTimeline });

    load.finish();
    const result = await load.done;
    expectNoClientFailed(result, 50);
    expect(Number((await rc.sql('replica', 'select count(*) from sync_rows')).trim())).toBe(rows0 + result.transactions);
    console.log(
      `switchover with a synchronous standby: pause ${there.pauseSeconds} s, ${result.transactions} tx, max latency ${result.maxLatencyMs} ms, longest gap ${result.longestGapMs} ms; backup of the new primary ${backup.id}`,
    );

    // And back: the names as they were.
    const cli = await rc.cli(['switchover', rc.tc.name, '--candidate', 'primary', '--no-backup', '--wait']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^switchover replica -> primary: timeline \d+, history archived true$/m);
    expect((await rc.sql('primary', 'show synchronous_standby_names')).trim()).toBe(sync);
    expect(await syncStates('primary')).toEqual(['replica:sync', 'third:async']);
    expect(await role('replica')).toBe('standby');
  }, 240_000);
});
