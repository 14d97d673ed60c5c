/**
 * The worker SIGKILLed in the middle of the two procedures that run a server of their own:
 * a restore drill while its scratch instance replays WAL, and a replica rebuild while
 * pg_basebackup clones the primary. A new worker picks each up, the interrupted activity runs
 * again, and the procedure finishes as if nothing had happened: one report, no scratch
 * instance, no partial clone, the old data directory kept until the very end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { pitrSource, type PitrSource } from '../helpers/restore.js';
import { replicatedCluster, type ReplicatedCluster } from '../helpers/replication.js';
import { asideOf } from '../helpers/rebuild.js';
import { killableWorker, retriedActivities, type KillableWorker } from '../helpers/killableWorker.js';
import { switchAndArchive } from '../helpers/ticks.js';
import { until } from '../helpers/stack.js';
import { portIsFree } from '../../adapters/pgHost.js';
import type { DrillReport } from '../../domain/drill.js';
import type { RebuildReport } from '../../domain/replication.js';
import type { RestoreProgress } from '../../workflows/pitrRestore.js';
import type { RestoreReport } from '../../domain/restore.js';

const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

/** A drill's scratch copy under `dir` while it recovers: recovery.signal and a running postmaster (its port from postmaster.pid). */
function recoveringScratch(dir: string): { dataDir: string; port: number } | null {
  const entries = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }) : [];
  for (const e of entries) {
    const d = join(dir, e.name);
    if (!e.isDirectory() || !e.name.includes('-drill-') || !existsSync(join(d, 'recovery.signal'))) continue;
    let pid = '';
    try {
      pid = readFileSync(join(d, 'postmaster.pid'), 'utf8');
    } catch {
      continue; // not started yet
    }
    const port = Number(pid.split('\n')[3]);
    if (port > 0) return { dataDir: d, port };
  }
  return null;
}

/** Bytes of the files under a directory (0 when it is gone, or while files come and go). */
function bytesUnder(dir: string): number {
  try {
    return readdirSync(dir, { withFileTypes: true, recursive: true }).reduce(
      (n, e) => n + (e.isFile() ? statSafe(join(e.parentPath, e.name)) : 0),
      0,
    );
  } catch {
    return 0;
  }
}
const statSafe = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/** The id of the child workflow a workflow started, once it has started it. */
async function childOf(handle: WorkflowHandle, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = (await handle.fetchHistory()).events ?? [];
    const id = events.find((e) => e.childWorkflowExecutionStartedEventAttributes)?.childWorkflowExecutionStartedEventAttributes
      ?.workflowExecution?.workflowId;
    if (id) return id;
    if (Date.now() > deadline) throw new Error(`${handle.workflowId} started no child workflow within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('a restore drill when the worker is SIGKILLed', () => {
  let src: PitrSource;
  let worker: KillableWorker;

  beforeAll(async () => {
    src = await pitrSource('drillkill', {
      tickSeconds: 3,
      worker: async (tc) => {
        worker = killableWorker(tc.configPath);
        await worker.start();
        return worker;
      },
      adjust: (cl) => {
        cl.drill = {
          cron: null,
          largestTables: 3,
          assertions: [
            { name: 'ticks restored', sql: 'select count(*) from ticks', expect: '> 0' },
            { name: 'all of the replayed table', sql: 'select count(*) from replayed', expect: '= 400000' },
          ],
        };
      },
    });
    // WAL after the backup, enough segments that the scratch instance replays for a while.
    await src.db.query(`create table replayed as select g, repeat(md5(g::text), 8) as pad from generate_series(1, 400000) g`);
    await switchAndArchive(src.db, 180_000);
  }, 300_000);
  afterAll(async () => src?.close());

  it('completes after a new worker starts, stores one report, and leaves no scratch instance', async () => {
    const t0 = Date.now();
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, {});
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = src.c.temporal.workflow.getHandle(res.body.workflowId);
    const child = src.c.temporal.workflow.getHandle(await childOf(handle));

    // Killed while the scratch instance replays: it runs, on its own port, in its own directory.
    // Watched through the history (the replay wait scheduled) and on disk (recovery.signal, a
    // postmaster), not through the progress query: under load a query's answer can take longer
    // than the step it would report.
    const replaying = async () =>
      (await child.fetchHistory()).events?.some(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'awaitRecoveryTarget',
      );
    const scratch = await until(
      'the drill scratch instance replays WAL (awaitRecoveryTarget scheduled, the server in recovery)',
      async () => ((await replaying()) ? recoveringScratch(src.restoreDir) : null),
      120_000,
      20,
    );
    expect((await child.query<RestoreProgress>('progress')).destination.dataDir).toBe(scratch.dataDir);
    expect(scratch.dataDir).toContain('-drill-');
    expect(existsSync(join(scratch.dataDir, 'postmaster.pid'))).toBe(true);
    await worker.kill();
    const killedAt = Date.now();
    // The scratch server outlives the worker (pg_ctl starts it in a session of its own).
    expect(existsSync(join(scratch.dataDir, 'postmaster.pid'))).toBe(true);
    const stateAtKill = await src.pgs.sqlAt(scratch.port, 'select pg_is_in_recovery()').then(
      (t) => (t.trim() === 't' ? 'still in recovery' : 'already promoted'),
      () => 'not yet consistent',
    );
    expect(stateAtKill, 'replay finished before the kill: write more WAL after the backup').not.toBe('already promoted');
    await worker.start();

    const report = (await handle.result()) as DrillReport;
    const recovered = seconds(killedAt);
    expect(report.ok, JSON.stringify(report.failures)).toBe(true);
    expect(report.failures).toEqual([]);
    const r = report.restores[0]!;
    expect(r).toMatchObject({ role: 'newest', error: null, teardown: { removed: true } });
    expect(r.checks.filter((c) => c.severity === 'error').every((c) => c.ok)).toBe(true);
    expect(r.checks.map((c) => `${c.kind}:${c.name}:${c.ok}`)).toEqual(
      expect.arrayContaining([
        'verification:pg_verifybackup:true',
        'checksums:data_checksums:true',
        'amcheck:pg_amcheck --all:true',
        'assertion:ticks restored:true',
        'assertion:all of the replayed table:true',
      ]),
    );
    // The instance that was replaying when the worker died is the one that was checked.
    expect(r.restore!.destination.dataDir).toBe(scratch.dataDir);

    // Exactly one drill report for this workflow (and none half-written), and one restore report for its child.
    const drills = (await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/drills`)).body.drills as {
      id: string;
      ok: boolean;
      workflowId: string;
    }[];
    expect(drills.map((d) => [d.workflowId, d.id, d.ok])).toEqual([[handle.workflowId, report.id, true]]);
    const restores = (await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/restores`)).body.restores as RestoreReport[];
    expect(restores.filter((x) => x.workflowId === child.workflowId).length).toBe(1);

    // No scratch instance: no directory, no postmaster.pid, nothing on its port, no private socket.
    const left = (existsSync(src.restoreDir) ? readdirSync(src.restoreDir) : []).filter((d) => d.includes('-drill-'));
    expect(left).toEqual([]);
    expect(existsSync(join(scratch.dataDir, 'postmaster.pid'))).toBe(false);
    expect(await portIsFree(scratch.port)).toBe(true);
    await expect(src.pgs.sqlAt(scratch.port, 'select 1')).rejects.toThrow();
    expect(readdirSync('/tmp').filter((d) => d.startsWith(`pgdr-drill-${report.id}-`))).toEqual([]);

    // The activity the kill interrupted ran again.
    const retried = await retriedActivities(child);
    expect(retried.map((x) => x.type)).toContain('awaitRecoveryTarget');
    console.log(
      `FAULT | worker SIGKILLed mid-drill (scratch instance replaying WAL) | scratch instance ${stateAtKill} at the kill; drill completed ok ${recovered} s after it (${seconds(t0)} s in all); 1 drill report; scratch instance stopped and removed; retried: ${retried.map((x) => `${x.type}${x.attempt ? ` attempt ${x.attempt}` : ' timed out'}`).join(', ')}`,
    );
  }, 240_000);
});

describe('a replica rebuild when the worker is SIGKILLed', () => {
  let rc: ReplicatedCluster;
  let worker: KillableWorker;
  const rows = 'select count(*), sum(g), sum(hashtext(pad)::bigint) from big';

  beforeAll(async () => {
    rc = await replicatedCluster('rebuildkill', {
      worker: async (tc) => {
        worker = killableWorker(tc.configPath);
        await worker.start();
        return worker;
      },
    });
    // Enough data that pg_basebackup takes a while to clone it.
    await rc.sql(
      'primary',
      `create table big as select g, repeat(md5(g::text), 4) as pad from generate_series(1, 3000000) g; create table kept (id int primary key); insert into kept select generate_series(1, 1000);`,
    );
    await until(
      'the standby has replayed the data',
      async () => (await rc.sql('replica', 'select count(*) from kept').catch(() => '')).trim() === '1000',
      120_000,
    );
  }, 300_000);
  afterAll(async () => rc?.stop());

  it("completes after a new worker starts: streams on its slot with the primary's rows, old directory removed last, nothing partial left", async () => {
    const dataDir = rc.dataDir('replica');
    const parent = dirname(dataDir);
    const aside = () => asideOf(dataDir);
    // The old copy, marked: it must stay aside, untouched, until the new one streams.
    writeFileSync(join(dataDir, 'old-copy.marker'), 'the old copy');
    const before = readdirSync(parent).sort();
    const slot = rc.tc.config.clusters[rc.tc.name]!.nodes.replica!.slot!;
    const t0 = Date.now();
    const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/nodes/replica/rebuild`, { source: 'primary' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = rc.c.temporal.workflow.getHandle(res.body.workflowId);

    // Killed mid-clone: pg_basebackup has written part of the new copy; the old one is aside.
    // Watched on the files themselves, not through the progress query: under load a query's answer
    // can take longer than the whole clone (a fresh-clone run once saw "pg_basebackup", then "done").
    await until(
      'pg_basebackup has written 16 MiB of the new copy, the old one aside',
      async () => aside().length === 1 && bytesUnder(join(dataDir, 'base')) > 16 * 1024 * 1024,
      120_000,
      20,
    );
    expect(aside().length).toBe(1);
    const oldDir = aside()[0]!;
    expect(existsSync(join(parent, oldDir, 'old-copy.marker'))).toBe(true);
    await worker.kill();
    const killedAt = Date.now();
    // pg_basebackup writes backup_manifest last: the clone had not finished.
    expect(existsSync(join(dataDir, 'backup_manifest')), 'the clone finished before the kill: clone more data').toBe(false);
    const partialMiB = Math.round(bytesUnder(dataDir) / 1024 / 1024);
    const totalMiB = Math.round(Number(await rc.sql('primary', 'select sum(pg_database_size(oid)) from pg_database')) / 1024 / 1024);
    // Written while no worker runs: the rebuilt standby must still get it.
    await rc.sql('primary', 'insert into kept select generate_series(1001, 2000)');
    await worker.start();

    // While it carries on, the old directory stays aside until the new copy streams.
    const seen: { step: string; aside: string[]; marked: boolean }[] = [];
    let done = false;
    const watching = (async () => {
      while (!done) {
        const p = await handle.query<{ step: string }>('progress').catch(() => null);
        if (p) seen.push({ step: p.step, aside: aside(), marked: existsSync(join(parent, oldDir, 'old-copy.marker')) });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let report: RebuildReport;
    try {
      report = (await handle.result()) as RebuildReport;
    } finally {
      done = true;
      await watching;
    }
    const recovered = seconds(killedAt);
    expect(report).toMatchObject({
      node: 'replica',
      source: 'primary',
      primary: 'primary',
      oldDataDir: join(parent, oldDir),
      oldDataDirRemoved: true,
    });
    const beforeRemoval = seen.filter((s) =>
      /pg_basebackup|standby settings|starting the standby|waiting until replica streams/.test(s.step),
    );
    expect(beforeRemoval.length).toBeGreaterThan(0);
    expect(beforeRemoval.every((s) => s.aside.length === 1 && s.aside[0] === oldDir && s.marked)).toBe(true);

    // Streaming on its slot, and nothing else connected to the primary for it (no stray pg_basebackup).
    const streaming = await rc.sql(
      'primary',
      `select s.slot_name, r.state, r.application_name from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid`,
    );
    expect(streaming.trim()).toBe(`${slot}|streaming|replica`);
    expect((await rc.sql('primary', 'select count(*) from pg_stat_replication')).trim()).toBe('1');
    // The primary's rows, including those written while the worker was dead.
    await until(
      'the rebuilt standby has every kept row',
      async () => (await rc.sql('replica', 'select count(*) from kept')).trim() === '2000',
      60_000,
    );
    expect((await rc.sql('replica', rows)).trim()).toBe((await rc.sql('primary', rows)).trim());
    expect((await rc.sql('replica', 'select pg_is_in_recovery()')).trim()).toBe('t');

    // Nothing next to the data directory that was not there before: no old copy, no partial clone.
    expect(aside()).toEqual([]);
    expect(readdirSync(parent).sort()).toEqual(before);
    expect(existsSync(join(dataDir, 'old-copy.marker'))).toBe(false);

    // The clone the kill interrupted ran again.
    const retried = await retriedActivities(handle);
    expect(retried.map((x) => x.type)).toContain('cloneFromPrimary');
    console.log(
      `FAULT | worker SIGKILLed mid-rebuild (pg_basebackup cloning, ${partialMiB} of ~${totalMiB} MiB written) | rebuild completed ${recovered} s after the kill (${seconds(t0)} s in all); standby streams on its slot with the primary's rows (incl. those written while no worker ran); old data directory removed only at the end; no partial clone left; retried: ${retried.map((x) => `${x.type}${x.attempt ? ` attempt ${x.attempt}` : ' timed out'}`).join(', ')}`,
    );
  }, 240_000);
});
