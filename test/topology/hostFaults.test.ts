/**
 * Faults that only exist across hosts (scripts/hosts): a node cut off from storage, a control
 * worker killed mid-procedure with another one on another host, a whole host lost mid-drill.
 * Each prints a `FAULT | … | …` line for the README's fault table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import { createS3Client, clusterPrefix, listKeys } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { loadConfig } from '../../config/load.js';
import { killHost, setBlackhole } from '../../scripts/hosts/netns.js';
import {
  CLUSTER,
  dataDirOf,
  hostDir,
  killPgdrOn,
  serverLogOf,
  startPgBouncerOn,
  startPgdrOn,
  startPostgresOn,
  topologyDown,
  topologySecret,
} from '../../scripts/hosts/topology.js';
import { until } from '../helpers/stack.js';
import { scheduledActivityTypes } from '../helpers/history.js';
import {
  activityRuns,
  expectEachOnItsHost,
  openHosts,
  postmastersOn,
  testTopology,
  workflowTaskHosts,
  type HostsSession,
} from '../helpers/hosts.js';

const t = testTopology('f', 2);
let h: HostsSession;
const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

/** The pg_wal/archive_status/*.ready files of pg1, read from the machine (pg1's own disk). */
function readyOnPg1(): string[] {
  const dir = join(hostDir(t, 'pg1'), 'pg', 'pg1', 'pg_wal', 'archive_status');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ready'))
    .map((f) => f.slice(0, -'.ready'.length))
    .sort();
}

/** Runs the WAL check and returns its stored result (a red check fails its workflow, by design). */
async function walCheck(): Promise<{ healthy: boolean; problems: string[]; workflowId: string }> {
  const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/wal-archive/check`, {});
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const failed = await h.finished(res.body.workflowId).then(
    () => false,
    () => true,
  );
  const stored = await h.api('GET', `/api/v1/clusters/${CLUSTER}/wal-archive`);
  expect(stored.body.workflowId).toBe(res.body.workflowId);
  expect(failed).toBe(!stored.body.healthy);
  return stored.body;
}

async function goodBackup(): Promise<string> {
  const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/backups`, {});
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const { result } = await h.finished(res.body.workflowId);
  expect(result.manifest.status).toBe('good');
  return result.manifest.id;
}

/** Waits until the workflow has scheduled an activity of one of `types` (read from its history). */
async function reached(handle: WorkflowHandle, types: string[]): Promise<string> {
  return until(`${handle.workflowId} reaching ${types.join(' or ')}`, async () =>
    (await scheduledActivityTypes(handle)).find((a) => types.includes(a)),
  );
}

describe('faults across hosts', { timeout: 400_000 }, () => {
  beforeAll(async () => {
    h = await openHosts(t);
    await h.sql('pg1', 'create table faults_t (id serial primary key, note text, at timestamptz default now())');
    await h.sql('pg1', "insert into faults_t (note) select 'seed' from generate_series(1, 1000)");
    await goodBackup();
  }, 300_000);

  afterAll(async () => {
    await h?.close();
    await topologyDown(t);
  }, 120_000);

  it('MinIO unreachable from pg1 only, during a WAL burst: segments wait as .ready, the check goes red, then all drain and it is green', async () => {
    expect((await walCheck()).healthy).toBe(true);
    const t0 = Date.now();
    await setBlackhole(t.net, 'pg1', t.addr.minio, true);
    let healedAt = 0;
    try {
      const burst: string[] = [];
      for (let i = 0; i < 6; i++) {
        await h.sql('pg1', `insert into faults_t (note) select 'burst ${i}' from generate_series(1, 2000)`);
        burst.push((await h.sql('pg1', 'select pg_walfile_name(pg_switch_wal()) as seg')).rows[0].seg);
      }
      // Nothing of the burst reaches storage; the segments wait on pg1's disk, none is dropped.
      await until('the burst waiting as .ready on pg1', async () => burst.every((s) => readyOnPg1().includes(s)), 60_000);
      // The thin client waits archive.agent.waitSeconds for the agent, then pushes itself: that fails too.
      await until(
        'a failed archive attempt on pg1',
        async () => (await h.sql('pg1', 'select failed_count from pg_stat_archiver')).rows[0].failed_count > 0,
        90_000,
      );
      const red = await walCheck();
      expect(red.healthy).toBe(false);
      expect(red.problems.join('\n')).toMatch(/archiving is failing|archive lag|did not reach the archive/);
      const held = readyOnPg1().length;
      const heldFor = seconds(t0);

      await setBlackhole(t.net, 'pg1', t.addr.minio, false);
      healedAt = Date.now();
      await until('pg1 drained its .ready segments', async () => readyOnPg1().length === 0, 180_000);
      const drained = seconds(healedAt);
      // Every segment of the burst is in storage, and the archive has no gap.
      const config = loadConfig(t.configFile);
      const s3 = createS3Client(config.storage, createSecretReader());
      try {
        const keys = (await listKeys(s3, config.storage.bucket, `${clusterPrefix(config.storage, CLUSTER)}wal/`)).map((k) => k.key);
        for (const s of burst)
          expect(
            keys.some((k) => k.includes(`/wal/${s}`)),
            s,
          ).toBe(true);
      } finally {
        s3.destroy();
      }
      const green = await walCheck();
      expect(green).toMatchObject({ healthy: true, problems: [] });
      console.log(
        `FAULT | MinIO unreachable from pg1 only (blackhole route on pg1), during a burst of ${burst.length} segments | ${held} segments held as .ready on pg1 after ${heldFor} s, archiving failed and the check went red (${red.problems.length} problems, e.g. ${red.problems.map((p) => p.split(':')[0]).join('; ')}); healed: drained in ${drained} s, every burst segment in storage, check green with no gap`,
      );
    } finally {
      if (!healedAt) await setBlackhole(t.net, 'pg1', t.addr.minio, false);
    }
  });

  it('pg1 partitioned from svc (Temporal and MinIO) for 30 s mid-backup: it completes or fails cleanly, one new good entry, no stray objects', async () => {
    // Enough data that the stream is still running when the link goes.
    await h.sql('pg1', 'create table big_t as select g, md5(g::text) || md5((g + 1)::text) as pad from generate_series(1, 2500000) g');
    const config = loadConfig(t.configFile);
    const catalog = async () =>
      (await h.api('GET', `/api/v1/clusters/${CLUSTER}/backups`)).body.backups as { id: string; status: string }[];
    const goodBefore = (await catalog()).filter((b) => b.status === 'good').map((b) => b.id);
    const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/backups`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = h.temporal.workflow.getHandle(res.body.workflowId);
    await reached(handle, ['uploadBaseBackup']);
    await new Promise((r) => setTimeout(r, 1500));
    const cut = (on: boolean) => Promise.all([setBlackhole(t.net, 'pg1', t.addr.svc, on), setBlackhole(t.net, 'pg1', t.addr.minio, on)]);
    const t0 = Date.now();
    await cut(true);
    let healed = false;
    try {
      await new Promise((r) => setTimeout(r, 30_000));
      await cut(false);
      healed = true;
      const first = await h.finished(res.body.workflowId, 300_000).then(
        (r) => ({ ok: true as const, id: r.result.manifest.id as string }),
        (err) => ({ ok: false as const, why: ((err as { cause?: { message?: string } }).cause?.message ?? String(err)).slice(0, 140) }),
      );
      const ended = seconds(t0);
      const next = first.ok ? first.id : await goodBackup();
      const after = await catalog();
      const newGood = after.filter((b) => b.status === 'good' && !goodBefore.includes(b.id)).map((b) => b.id);
      expect(newGood).toEqual([next]);
      // No stray objects: every object under base/ belongs to a good backup.
      const s3 = createS3Client(config.storage, createSecretReader());
      let keys: string[];
      try {
        keys = (await listKeys(s3, config.storage.bucket, `${clusterPrefix(config.storage, CLUSTER)}base/`)).map((k) => k.key);
      } finally {
        s3.destroy();
      }
      const good = new Set(after.filter((b) => b.status === 'good').map((b) => b.id));
      const stray = keys.filter((k) => !good.has(k.slice(k.indexOf('/base/') + '/base/'.length).split('/')[0]!));
      expect(stray).toEqual([]);
      console.log(
        `FAULT | pg1 partitioned from svc (Temporal and MinIO) for 30 s mid-backup (uploading) | ${first.ok ? `backup completed ${ended} s after the cut` : `backup failed ${ended} s after the cut (${first.why}); the next one succeeded`}; one new good catalog entry, no object outside a good backup`,
      );
    } finally {
      if (!healed) await cut(false);
      await h.sql('pg1', 'drop table if exists big_t');
    }
  });

  it('pg2 partitioned from pg1 before a switchover to it: refused with the numbers, nothing changed', async () => {
    const timeline = async (n: 'pg1' | 'pg2') => (await h.sql(n, 'select timeline_id::int as tl from pg_control_checkpoint()')).rows[0].tl;
    const before = { pg1: await timeline('pg1'), pg2: await timeline('pg2') };
    const cut = async (on: boolean) => {
      await setBlackhole(t.net, 'pg1', t.addr.pg2, on);
      await setBlackhole(t.net, 'pg2', t.addr.pg1, on);
    };
    await cut(true);
    let healed = false;
    try {
      // WAL pg2 cannot receive: two segment switches put it more than switchover.maxLagBytes (16 MiB) behind.
      for (let i = 0; i < 2; i++) {
        await h.sql('pg1', `insert into faults_t (note) select 'partitioned ${i}' from generate_series(1, 500)`);
        await h.sql('pg1', 'select pg_switch_wal()');
      }
      const t0 = Date.now();
      const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/switchover`, { candidate: 'pg2' });
      let refusal: string;
      if (res.status === 202) {
        refusal = await h.finished(res.body.workflowId).then(
          (r) => JSON.stringify(r.result),
          (err) => (err as { cause?: { message?: string } }).cause?.message ?? String(err),
        );
      } else refusal = JSON.stringify(res.body);
      expect(refusal).toMatch(
        /candidate pg2 lags \d+ bytes behind the primary \(replayed [0-9A-F]+\/[0-9A-F]+, primary at [0-9A-F]+\/[0-9A-F]+; expected at most 16777216\)/,
      );
      // Nothing changed: pg1 still the primary on its timeline, pg2 still a standby.
      expect((await h.sql('pg1', 'select pg_is_in_recovery() as r')).rows[0].r).toBe(false);
      expect((await h.sql('pg2', 'select pg_is_in_recovery() as r')).rows[0].r).toBe(true);
      expect({ pg1: await timeline('pg1'), pg2: await timeline('pg2') }).toEqual(before);
      await cut(false);
      healed = true;
      const t1 = Date.now();
      await until(
        'pg2 streaming and caught up again',
        async () =>
          (
            await h.sql(
              'pg1',
              `select count(*)::int as n from pg_stat_replication where client_addr = '${t.addr.pg2}' and state = 'streaming' and replay_lsn = pg_current_wal_lsn()`,
            )
          ).rows[0].n === 1,
        180_000,
      );
      console.log(
        `FAULT | pg2 partitioned from pg1 (both ways) before a switchover to it, 2 segments written meanwhile | refused in ${seconds(t0)} s: ${/candidate pg2 lags[^;]+;[^)]+\)/.exec(refusal)?.[0]}; pg1 still primary on timeline ${before.pg1}, pg2 still a standby; healed: pg2 streaming and caught up ${seconds(t1)} s later`,
      );
    } finally {
      if (!healed) await cut(false);
    }
  });

  it('the control worker on ctl1 SIGKILLed mid-restore: ctl2 carries it to the end, one promotion, one report', async () => {
    // Only ctl1 serves the control queue when the restore starts, so the kill takes its worker away.
    await killPgdrOn(t, 'ctl2');
    const before = (await h.sql('pg1', 'select count(*)::int as n from faults_t')).rows[0].n;
    await h.sql('pg1', 'select pg_switch_wal()');
    await until('pg1 archived everything', async () => readyOnPg1().length === 0);
    const dataDir = join(t.local, 'restores', 'ctl-kill');
    const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/restores`, {
      target: { latest: true },
      destination: { node: 'pg3', dataDir, port: 5434 },
      action: 'promote',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = h.temporal.workflow.getHandle(res.body.workflowId);
    const at = await reached(handle, ['restoreBackup', 'writeRecoverySettings', 'startRestoredInstance', 'awaitRecoveryTarget']);
    await startPgdrOn(t, 'ctl2');
    const t0 = Date.now();
    await killPgdrOn(t, 'ctl1');
    try {
      const { result } = await h.finished(res.body.workflowId);
      const recovered = seconds(t0);
      expect(result.stop.state).toBe('promoted');
      const hosts = await workflowTaskHosts(handle);
      expect([...hosts].sort()).toEqual(['ctl1', 'ctl2']);
      expectEachOnItsHost(await activityRuns(handle));
      // Exactly one promotion: the copy's log chose one new timeline.
      const log = readFileSync(join(hostDir(t, 'pg3'), 'restores', 'ctl-kill', 'pgdr-restore.log'), 'utf8');
      expect(log.match(/selected new timeline ID/g)?.length).toBe(1);
      expect((await h.sql('pg3', 'select count(*)::int as n from faults_t', 5434)).rows[0].n).toBe(before);
      const listed = await h.api('GET', `/api/v1/clusters/${CLUSTER}/restores`);
      expect(listed.body.restores.filter((r: { id: string }) => r.id === res.body.restoreId)).toHaveLength(1);
      console.log(
        `FAULT | control worker on ctl1 SIGKILLed mid-restore (at ${at}) | ctl2 carried the workflow to the end ${recovered} s after the kill; one promotion (one new timeline), one report, rows exact; every node step on pg3's agent`,
      );
      const dropped = await h.api('DELETE', `/api/v1/clusters/${CLUSTER}/restores/${res.body.restoreId}`);
      expect(dropped.status, JSON.stringify(dropped.body)).toBe(200);
    } finally {
      await startPgdrOn(t, 'ctl1');
    }
  });

  it('host pg3 lost mid-drill (every process on it SIGKILLed): the drill ends clearly once it returns, and no scratch instance is left running', async () => {
    const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/drills`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = h.temporal.workflow.getHandle(res.body.workflowId);
    // The scratch instance exists once the child restore starts it.
    await until('the drill scratch instance running on pg3', async () => (await postmastersOn(t, 'pg3')).length > 1, 120_000);
    const t0 = Date.now();
    const killed = await killHost(t.net, 'pg3');
    expect(await postmastersOn(t, 'pg3')).toEqual([]);
    // The host comes back: its server, then its agent (as a boot would).
    await startPostgresOn(t, 'pg3');
    await startPgdrOn(t, 'pg3');
    await startPgBouncerOn(t);
    const returned = seconds(t0);
    let outcome: string;
    try {
      const { result } = await h.finished(res.body.workflowId, 300_000);
      outcome = `drill completed (ok ${result.ok}${result.failures?.length ? `: ${result.failures[0]}` : ''})`;
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      outcome = `drill failed: ${cause.slice(0, 140)}`;
    }
    const ended = seconds(t0);
    // Whichever way it ended, only the node's own server runs on pg3, and no scratch directory is
    // left. The killed attempt's server log may be kept beside, as every failed attempt's is
    // (`<dir>.pgdr-failed-<time>-<suffix>.log`, README): a file for the DBA, not an instance.
    expect(await postmastersOn(t, 'pg3')).toEqual([dataDirOf(t, 'pg3')]);
    const restoresDir = join(hostDir(t, 'pg3'), 'restores');
    const left = existsSync(restoresDir) ? readdirSync(restoresDir).filter((d) => d.includes('drill')) : [];
    const keptLogs = left.filter((d) => /\.pgdr-failed-[0-9TZ]+-[0-9a-f]+\.log$/.test(d));
    expect(left.filter((d) => !keptLogs.includes(d))).toEqual([]);
    for (const log of keptLogs) expect(statSync(join(restoresDir, log)).isFile()).toBe(true);
    const desc = await handle.describe();
    expect(['COMPLETED', 'FAILED']).toContain(desc.status.name);
    console.log(
      `FAULT | host pg3 lost mid-drill (${killed} processes SIGKILLed, scratch instance replaying) | host back ${returned} s later; ${outcome} ${ended} s after the loss; no scratch instance running, no scratch directory left${keptLogs.length ? `; the killed attempt's server log kept beside (${keptLogs.length})` : ''}`,
    );
  });

  /** pg2 cut off from pg1 and from storage (both ways to pg1), or healed. */
  const cutPg2 = async (on: boolean) => {
    await setBlackhole(t.net, 'pg1', t.addr.pg2, on);
    await setBlackhole(t.net, 'pg2', t.addr.pg1, on);
    await setBlackhole(t.net, 'pg2', t.addr.minio, on);
  };
  const timelineOfPg1 = async () => (await h.sql('pg1', 'select timeline_id::int as tl from pg_control_checkpoint()')).rows[0].tl;
  /** A write through PgBouncer on pg3 (clients never paused, or resumed): which server took it. */
  const writeViaBouncer = async (note: string) =>
    (
      await h.sqlAt(
        t.addr.pg3,
        t.ports.pgbouncer,
        `insert into faults_t (note) values ('${note}') returning host(inet_server_addr()) as addr`,
        {
          tls: false,
        },
      )
    ).rows[0].addr;
  const pg2StreamingAgain = () =>
    until(
      'pg2 streaming from pg1 again',
      async () =>
        (
          await h.sql(
            'pg1',
            `select count(*)::int as n from pg_stat_replication where client_addr = '${t.addr.pg2}' and state = 'streaming'`,
          )
        ).rows[0].n === 1,
      180_000,
    );

  it('pg2 cut off from pg1 and storage just before a switchover (its stream still looks alive): stopped before the pause, nothing paused or stopped', async () => {
    const before = await timelineOfPg1();
    // Cut just before the request: pg1 and pg2 still show the stream for up to
    // wal_sender_timeout, so the preconditions pass; the liveness check finds it.
    await cutPg2(true);
    let healed = false;
    try {
      const t0 = Date.now();
      const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/switchover`, { candidate: 'pg2' });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const handle = h.temporal.workflow.getHandle(res.body.workflowId);
      const failure = await h.finished(res.body.workflowId).then(
        () => 'completed',
        (err) => (err as { cause?: { message?: string } }).cause?.message ?? String(err),
      );
      const stopped = seconds(t0);
      expect(failure).toMatch(/candidate pg2 is not replaying pg1's WAL now: .*nothing was paused or stopped/);
      // Clients were never paused and pg1 never stopped.
      const scheduled = await scheduledActivityTypes(handle);
      expect(scheduled).not.toContain('pgbouncerAdmin');
      expect(scheduled).not.toContain('stopAndReadControl');
      expect((await h.sql('pg1', 'select pg_is_in_recovery() as r')).rows[0].r).toBe(false);
      expect(await timelineOfPg1()).toBe(before);
      expect(await writeViaBouncer('after the refused switchover')).toBe(t.addr.pg1);
      await cutPg2(false);
      healed = true;
      const t1 = Date.now();
      await pg2StreamingAgain();
      console.log(
        `FAULT | pg2 cut off from pg1 and storage just before a switchover to it (the stream still looked alive) | stopped before the pause in ${stopped} s (${failure.replace(/^.*is not replaying pg1's WAL now: /, '').replace(/; its stream may be cut.*$/s, '')}); clients never paused, pg1 never stopped, timeline ${before}; healed: pg2 streaming again ${seconds(t1)} s later`,
      );
    } finally {
      if (!healed) await cutPg2(false);
    }
  });

  it('pg2 cut off from pg1 and from storage as the fence begins: rolled back, pg1 serves writes again through PgBouncer', async () => {
    const before = await timelineOfPg1();
    // A client transaction open through PgBouncer holds its PAUSE: the switchover passes its
    // liveness check and waits in the PAUSE; the link is cut then, and only then does the
    // transaction commit and let the fence go on. The cut lands in the fence, every time.
    const holder = new pg.Client({
      host: t.addr.pg3,
      port: t.ports.pgbouncer,
      user: 'postgres',
      database: 'postgres',
      password: topologySecret(t, 'pg-superuser-password'),
    });
    holder.on('error', () => undefined);
    await holder.connect();
    let healed = false;
    try {
      await holder.query('begin');
      await holder.query("insert into faults_t (note) values ('holds the pause')");
      const t0 = Date.now();
      const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/switchover`, { candidate: 'pg2' });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const handle = h.temporal.workflow.getHandle(res.body.workflowId);
      await reached(handle, ['pgbouncerAdmin']);
      await cutPg2(true);
      await holder.query('commit');
      const failure = await h.finished(res.body.workflowId).then(
        () => 'completed',
        (err) => (err as { cause?: { message?: string } }).cause?.message ?? String(err),
      );
      const rolledBack = seconds(t0);
      expect(failure).toMatch(/switchover of cluster "multi" to "pg2" rolled back: .*"pg1" is the primary again/);
      // The fence was entered (pg1 stopped) and undone.
      expect(await scheduledActivityTypes(handle)).toEqual(expect.arrayContaining(['stopAndReadControl', 'startServer']));
      expect((await h.sql('pg1', 'select pg_is_in_recovery() as r')).rows[0].r).toBe(false);
      expect(await timelineOfPg1()).toBe(before);
      // Clients through PgBouncer write to pg1 again (it was paused, then resumed).
      expect(await writeViaBouncer('after rollback')).toBe(t.addr.pg1);
      expect((await h.sql('pg2', 'select pg_is_in_recovery() as r')).rows[0].r).toBe(true);
      await cutPg2(false);
      healed = true;
      const t1 = Date.now();
      await pg2StreamingAgain();
      console.log(
        `FAULT | pg2 cut off from pg1 and storage as a switchover to it entered the fence (PAUSE) | rolled back in ${rolledBack} s (${failure.replace(/^.*rolled back: /, '').replace(/; "pg1" is the primary again.*$/s, '')}); pg1 primary on timeline ${before} again, writes through PgBouncer reach it; healed: pg2 streaming again ${seconds(t1)} s later`,
      );
    } finally {
      await holder.end().catch(() => undefined);
      if (!healed) await cutPg2(false);
    }
  });

  // Last: it leaves pg2 the primary.
  it('the control worker on ctl1 SIGKILLed mid-switchover (promotion in flight): ctl2 finishes it, one promotion, one report', async () => {
    const timelineOf = async (n: 'pg1' | 'pg2') =>
      (await h.sql(n, 'select timeline_id::int as tl from pg_control_checkpoint()')).rows[0].tl;
    const before = await timelineOf('pg1');
    const pg2Log = serverLogOf(t, 'pg2');
    const promotions = () => (readFileSync(pg2Log, 'utf8').match(/selected new timeline ID/g) ?? []).length;
    const promotedBefore = promotions();
    await killPgdrOn(t, 'ctl2');
    let handle: WorkflowHandle | undefined;
    try {
      const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/switchover`, { candidate: 'pg2' });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      handle = h.temporal.workflow.getHandle(res.body.workflowId);
      await reached(handle, ['promote']);
      await startPgdrOn(t, 'ctl2');
      const t0 = Date.now();
      await killPgdrOn(t, 'ctl1');
      const { result } = await h.finished(res.body.workflowId);
      const recovered = seconds(t0);
      expect(result).toMatchObject({ oldPrimary: 'pg1', newPrimary: 'pg2' });
      expect([...(await workflowTaskHosts(handle))].sort()).toEqual(['ctl1', 'ctl2']);
      expectEachOnItsHost(await activityRuns(handle));
      // One promotion: pg2 chose one new timeline, and pg1 follows it as a standby.
      expect(promotions() - promotedBefore).toBe(1);
      expect(await timelineOf('pg2')).toBe(before + 1);
      await until('pg1 streaming from pg2', async () => (await h.sql('pg1', 'select pg_is_in_recovery() as r')).rows[0].r === true);
      // One report of this run in storage.
      const config = loadConfig(t.configFile);
      const s3 = createS3Client(config.storage, createSecretReader());
      let reports: string[];
      try {
        reports = (await listKeys(s3, config.storage.bucket, `${clusterPrefix(config.storage, CLUSTER)}reports/switchovers/`)).map(
          (k) => k.key,
        );
      } finally {
        s3.destroy();
      }
      expect(reports).toHaveLength(1);
      console.log(
        `FAULT | control worker on ctl1 SIGKILLed mid-switchover (promote of pg2 in flight) | ctl2 finished it ${recovered} s after the kill; pg2 promoted once (timeline ${before} → ${before + 1}), pg1 rejoined as its standby, one switchover report`,
      );
    } finally {
      await startPgdrOn(t, 'ctl1');
    }
  });
});
