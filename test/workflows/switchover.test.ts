/**
 * switchover against a real primary, two streaming standbys and a PgBouncer: refused with the
 * numbers when a precondition fails (nothing changes), rolled back when the candidate dies
 * before promotion, and under a pgbench load through PgBouncer no client transaction fails and
 * no committed row is lost, there and back again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../../adapters/gateway.js';
import type { SwitchoverReport } from '../../domain/replication.js';
import { pgbenchRun } from '../../scripts/stack/pgbench.js';
import { until } from '../helpers/stack.js';
import { expectNoClientFailed, replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';

let rc: ReplicatedCluster;

beforeAll(async () => {
  rc = await replicatedCluster('switchover', { standbys: ['replica', 'third'], pgbouncer: true });
  await rc.sql('primary', 'create table sw_rows (id bigserial primary key, v int not null)');
}, 180_000);

afterAll(async () => {
  await rc?.stop();
});

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

/** A process that exited (a zombie counts: PID 1 here does not always reap). */
function gone(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true;
  }
}

async function role(node: string): Promise<'primary' | 'standby'> {
  return (await rc.sql(node, 'select pg_is_in_recovery()')).trim() === 't' ? 'standby' : 'primary';
}

/** The port the node's WAL receiver streams from (null: not streaming). */
async function upstreamPort(node: string): Promise<number | null> {
  const v = (await rc.sql(node, "select sender_port from pg_stat_wal_receiver where status = 'streaming'")).trim();
  return v ? Number(v) : null;
}

/** A query through PgBouncer: which server answered. */
async function viaBouncer(): Promise<number> {
  const c = await rc.connect(rc.bouncer!.port);
  try {
    return (await c.query('select inet_server_port() as p')).rows[0].p;
  } finally {
    await c.end();
  }
}

async function switchTo(candidate: string): Promise<SwitchoverReport> {
  const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return resultOf<SwitchoverReport>(rc, res.body.workflowId);
}

describe('switchover', () => {
  it('refuses an unknown, primary, lagging or unreachable candidate with the numbers, and changes nothing', async () => {
    const before = await count('switchover');
    const unknown = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'nosuch' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('UNKNOWN_NODE');

    const self = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'primary' });
    expect(self.status).toBe(422);
    expect(self.body.error.message).toMatch(/candidate primary is already the primary/);

    // Lagging: replay paused on "third" while the primary writes.
    await rc.sql('third', 'select pg_wal_replay_pause()');
    try {
      await rc.sql('primary', 'insert into sw_rows (v) select 0 from generate_series(1, 20000)');
      const lagging = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'third', maxLagBytes: 4096 });
      expect(lagging.status).toBe(412);
      expect(lagging.body.error.code).toBe('REPLICATION_PRECONDITION_FAILED');
      expect(lagging.body.error.message).toMatch(
        /candidate third lags \d+ bytes behind the primary \(replayed [0-9A-F]+\/[0-9A-F]+, primary at [0-9A-F]+\/[0-9A-F]+; expected at most 4096\)/,
      );
      expect(lagging.body.error.message).toMatch(/WAL replay paused/);
    } finally {
      await rc.sql('third', 'select pg_wal_replay_resume()');
    }

    // Unreachable: "third" stopped.
    await runTool({
      tool: 'pg_ctl',
      binDir: rc.layout.pgBin,
      args: ['-D', rc.dataDir('third'), '-m', 'fast', '-w', 'stop'],
      osUser: rc.layout.pgUser,
    });
    try {
      const down = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'third' });
      expect(down.status).toBe(412);
      expect(down.body.error.message).toMatch(/candidate third is unreachable/);
    } finally {
      await runTool({
        tool: 'pg_ctl',
        binDir: rc.layout.pgBin,
        args: ['-D', rc.dataDir('third'), '-l', join(rc.dataDir('third'), 'test.log'), '-w', 'start'],
        osUser: rc.layout.pgUser,
      });
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(await count('switchover')).toBe(before);
    expect(await role('primary')).toBe('primary');
    expect(await viaBouncer()).toBe(rc.port('primary'));
  }, 120_000);

  it('rolls back when the candidate dies before promotion: the old primary serves again', async () => {
    await until('third streaming', async () => (await upstreamPort('third')) === rc.port('primary'), 60_000);
    // Freeze the candidate's startup process once the switchover is in its fence: it receives
    // WAL but replays nothing, so the switchover waits for the shutdown checkpoint, and then the
    // candidate is killed. (Frozen before, the liveness check before the pause would refuse
    // the switchover with nothing paused.) A transaction open through PgBouncer holds the
    // PAUSE until the freeze is done.
    const postmaster = Number(readFileSync(join(rc.dataDir('third'), 'postmaster.pid'), 'utf8').split('\n')[0]);
    const ps = await runTool({ tool: 'ps', args: ['-o', 'pid=,args=', '--ppid', String(postmaster)] });
    const startup = Number(/^\s*(\d+)\s+postgres: .*startup/m.exec(ps.stdout)?.[1]);
    expect(startup).toBeGreaterThan(0);
    const holder = await rc.connect(rc.bouncer!.port);
    await holder.query('begin');
    await holder.query('insert into sw_rows (v) values (-2)');
    const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/switchover`, { candidate: 'third' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = rc.c.temporal.workflow.getHandle(res.body.workflowId);
    try {
      await until(
        'the switchover in its PAUSE',
        async () => /PAUSE/.test((await handle.query<{ step: string }>('progress')).step),
        60_000,
        50,
      );
      process.kill(startup, 'SIGSTOP');
      await holder.query('commit');
    } finally {
      await holder.end().catch(() => undefined);
    }
    await until(
      'the switchover waiting for the shutdown checkpoint',
      async () => /replayed the shutdown checkpoint/.test((await handle.query<{ step: string }>('progress')).step),
      60_000,
      50,
    );
    const children = [...ps.stdout.matchAll(/^\s*(\d+)\s/gm)].map((m) => Number(m[1]));
    for (const pid of [postmaster, ...children]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone (a short-lived child)
      }
    }
    const failure = await handle.result().then(
      () => null,
      (e: { cause?: { message?: string; type?: string } }) => e.cause,
    );
    expect(failure?.type).toBe('SwitchoverRolledBackError');
    expect(failure?.message).toMatch(/rolled back: the candidate's server is not running.*"primary" is the primary again/);
    // The old primary serves again, through PgBouncer (resumed), and takes writes.
    expect(await role('primary')).toBe('primary');
    const c = await rc.connect(rc.bouncer!.port);
    try {
      await c.query('insert into sw_rows (v) values (-1)');
      expect((await c.query('select inet_server_port() as p')).rows[0].p).toBe(rc.port('primary'));
    } finally {
      await c.end();
    }
    await until('replica streaming from the old primary again', async () => (await upstreamPort('replica')) === rc.port('primary'), 60_000);
    // The killed candidate comes back as a standby of the old primary.
    await until('the killed server gone', async () => [postmaster, ...children].every(gone), 30_000);
    rmSync(join(rc.dataDir('third'), 'postmaster.pid'), { force: true });
    // A SIGKILLed server's shared memory may linger a moment: try the start a few times.
    await until(
      'the killed candidate restarted',
      () =>
        runTool({
          tool: 'pg_ctl',
          binDir: rc.layout.pgBin,
          args: ['-D', rc.dataDir('third'), '-l', join(rc.dataDir('third'), 'test.log'), '-w', 'start'],
          osUser: rc.layout.pgUser,
        }).then(
          () => true,
          () => false,
        ),
      60_000,
      1000,
    );
    await until('third streaming again', async () => (await upstreamPort('third').catch(() => null)) === rc.port('primary'), 60_000);
    console.log(
      `FAULT | switchover candidate SIGKILLed before promotion (waiting for the shutdown checkpoint) | switchover rolled back (SwitchoverRolledBackError); the old primary serves writes through PgBouncer again and the other standby streams from it`,
    );
  }, 180_000);

  it('switches over under pgbench through PgBouncer with no failed transaction and no lost row, then back', async () => {
    for (const s of ['replica', 'third'])
      await until(`${s} streaming`, async () => (await upstreamPort(s).catch(() => null)) === rc.port('primary'), 60_000);
    const before = Number((await rc.sql('primary', 'select count(*) from sw_rows')).trim());
    const load = pgbenchRun(rc.layout, {
      host: rc.bouncer!.host,
      port: rc.bouncer!.port,
      database: 'postgres',
      user: 'postgres',
      password: rc.secrets.superuserPassword,
      clients: 4,
      // Until both switchovers have ended (finish() below): a fixed length could end before a pause on a busy machine.
      seconds: 110,
      script: 'insert into sw_rows (v) values (:client_id);',
    });
    await new Promise((r) => setTimeout(r, 3000));

    const there = await switchTo('replica');
    expect(there).toMatchObject({
      oldPrimary: 'primary',
      newPrimary: 'replica',
      viaPatroni: false,
      historyArchived: true,
      pgbouncer: { paused: true, repointed: true },
    });
    expect(there.rejoined).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ node: 'primary', streaming: true }),
        expect.objectContaining({ node: 'third', streaming: true }),
      ]),
    );
    expect(there.warnings).toEqual([]);
    expect(await role('replica')).toBe('primary');
    expect(await role('primary')).toBe('standby');
    expect(await upstreamPort('primary')).toBe(rc.port('replica'));
    expect(await upstreamPort('third')).toBe(rc.port('replica'));
    // The old primary started streaming only; once it streamed it got pgdr's restore_command.
    expect((await rc.sql('primary', 'show restore_command')).trim()).toMatch(/pgdr wal fetch .*--cluster switchover-\S+ %f %p$/);
    expect(await viaBouncer()).toBe(rc.port('replica'));

    // And back, with the CLI: progress on stderr, the report on stdout.
    const cli = await rc.cli(['switchover', rc.tc.name, '--candidate', 'primary', '--no-backup', '--wait']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^started switchover\/\S+: replica -> primary \(candidate lag .*\)$/m);
    const steps = cli.stderr.trim().split('\n');
    expect(steps.length).toBeGreaterThanOrEqual(3);
    expect(steps.at(-1)).toBe('done');
    expect(cli.stdout).toMatch(/^switchover replica -> primary: timeline \d+, history archived true$/m);
    expect(cli.stdout).toMatch(/^ {2}replica: streams from primary/m);
    expect(cli.stdout).not.toMatch(/warning/);
    const history = await rc.cli(['replication', rc.tc.name]);
    expect(history.stdout).toMatch(/^FINISHED\s+OLD\s+NEW\s+PAUSE \(s\)/m);
    expect(history.stdout.match(/\s(primary\s+replica|replica\s+primary)\s/g)?.length).toBe(2);
    const back = (await rc.c.call('GET', `/api/v1/clusters/${rc.tc.name}/replication`)).body.switchovers.at(-1) as SwitchoverReport;
    expect(back).toMatchObject({ oldPrimary: 'replica', newPrimary: 'primary', historyArchived: true, warnings: [] });

    load.finish();
    const result = await load.done;
    expectNoClientFailed(result, 100);
    // Every committed insert is there, on the primary and (replayed) on both standbys.
    expect(Number((await rc.sql('primary', 'select count(*) from sw_rows')).trim())).toBe(before + result.transactions);
    const lsn = (await rc.sql('primary', 'select pg_current_wal_lsn()')).trim();
    for (const s of ['replica', 'third']) {
      await until(
        `${s} replayed ${lsn}`,
        async () => (await rc.sql(s, `select pg_last_wal_replay_lsn() >= '${lsn}'`)).trim() === 't',
        30_000,
      );
      expect(Number((await rc.sql(s, 'select count(*) from sw_rows')).trim())).toBe(before + result.transactions);
    }
    expect(await role('primary')).toBe('primary');
    expect(await upstreamPort('replica')).toBe(rc.port('primary'));
    console.log(
      `switchover under load: pause ${there.pauseSeconds} s and ${back.pauseSeconds} s, ${result.transactions} tx, max latency ${result.maxLatencyMs} ms, longest gap ${result.longestGapMs} ms`,
    );
  }, 240_000);
});
