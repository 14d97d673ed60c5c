/**
 * Point-in-time restore of the bench database (about 1 GB): pgdr's API + pitrRestore workflow
 * against the same restore done by hand in the same run: the object streamed from S3 into
 * `tar -x --zstd`, pg_verifybackup, recovery settings, pg_ctl start, wait until paused at the
 * target. By hand replays through `pgdr wal fetch` (one process and one round trip per segment,
 * what every restore did before prefetching); pgdr's restore replays from the agent's prefetch
 * spool (restore.prefetch). Replay is timed on its own for both: from the server's start to the
 * pause at the target. Then the same with a pgbackrest-method cluster over the same database
 * (pgdr's pgbackrest backup, the same WAL workload, `pgbackrest restore` through the same
 * workflow): pgdr's basebackup restore with prefetching against pgBackRest's own restore.
 */
import { appendFileSync, chownSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { NativeConnection } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { psql } from '../scripts/stack/postgres.js';
import { backupInput } from '../control/inputs.js';
import { archiveCommands } from '../config/archiveCommands.js';
import { asUser, runTool, spawnTool } from '../adapters/gateway.js';
import { baseFolder } from '../adapters/catalogStore.js';
import { portIsFree, runningPid } from '../adapters/pgHost.js';
import { createWorkers } from '../worker/workers.js';
import { backup } from '../workflows/backup.js';
import { unlessRefused } from '../workflows/lock.js';
import { buildServer } from '../api/server.js';
import { pgTimestamp, type RestoreReport } from '../domain/restore.js';
import type { BenchRow } from './backup.js';
import { pgbackrest } from '../adapters/pgbackrest.js';
import { benchCluster, benchStack, ensureBenchDb, median } from './stack.js';

type Stack = Awaited<ReturnType<typeof benchStack>>;

/**
 * A bench cluster of `method` over the bench primary with workers and the API in this process:
 * a full backup, then about 200 MB of WAL with a target time in the middle, all archived.
 * `restore()` runs a PITR to the target through the API and checks the rows.
 */
async function pitrSession(stack: Stack, method: 'basebackup' | 'pgbackrest') {
  const { layout, plan, secrets } = stack;
  const sql = (text: string, port = plan.primary.port) => psql(layout, plan, port, text, secrets);
  const name = method === 'basebackup' ? 'rsbench' : 'rspbbench';
  const restoreDir = join(layout.dir, `restores-${Date.now().toString(36)}`);
  const { run, config, deps } = await benchCluster(layout, name, (demo) => ({
    ...demo,
    method,
    backup: { ...demo.backup, verify: false, schedules: {} },
    restore: { dir: restoreDir },
  }));
  const made: string[] = [];
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const workers = await createWorkers({
    config,
    connection,
    plan: { control: true, agents: [{ cluster: name, node: 'primary' }] },
    shutdownGraceTime: '5 seconds',
  });
  const running = Promise.all(workers.map((w) => w.run()));
  const clientConn = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection: clientConn, namespace: config.temporal.namespace });
  const api = buildServer({ config, temporal, s3: deps.s3, token: 'bench' });
  const stopAndRemove = async (d: string) => {
    await runTool({
      tool: 'pg_ctl',
      binDir: layout.pgBin,
      args: ['-D', d, '-m', 'immediate', '-w', 'stop'],
      osUser: layout.pgUser,
    }).catch(() => undefined);
    rmSync(d, { recursive: true, force: true });
  };
  const close = async () => {
    for (const d of made) await stopAndRemove(d);
    await api.close();
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running;
    await clientConn.close();
    await connection.close();
  };
  try {
    if (method === 'pgbackrest') await pgbackrest(deps, name, 'primary', ['stanza-create']);
    // 1. A backup, then about 300 MB of WAL, a target in the middle of it, and more after.
    const b = await temporal.workflow.execute(backup, {
      taskQueue: config.temporal.taskQueue,
      workflowId: `backup/${name}/bench-${run}`,
      args: [{ ...backupInput(config, name, 'full', 'bench'), expire: false }],
    });
    const m = unlessRefused(b).manifest;
    console.log(`bench: restore source (${method}) ${m.id}, ${(m.bytes / 1024 / 1024).toFixed(0)} MiB stored`);
    await sql(
      `drop table if exists bench_marks; create table bench_marks(id serial primary key, at timestamptz default clock_timestamp(), pad text)`,
    );
    await sql(`insert into bench_marks(pad) select repeat('x', 1000) from generate_series(1, 100000)`);
    const target = (
      await sql(
        `insert into bench_marks(pad) values ('target'); select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
      )
    ).trim();
    const expected = Number((await sql(`select count(*) from bench_marks`)).trim());
    await new Promise((r) => setTimeout(r, 50));
    await sql(`insert into bench_marks(pad) select repeat('y', 1000) from generate_series(1, 100000)`);
    const last = (await sql(`select pg_walfile_name(pg_switch_wal())`)).trim();
    for (let i = 0; (await sql(`select last_archived_wal from pg_stat_archiver`)).trim() < last; i++) {
      if (i > 1200) throw new Error(`segment ${last} was not archived within 10 minutes`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const check = async (port: number, label: string) => {
      const n = Number((await sql(`select count(*) from bench_marks`, port)).trim());
      if (n !== expected) throw new Error(`${label} restore holds ${n} rows of bench_marks, expected ${expected}`);
    };
    /** pgdr: the API's pre-flight, then the pitrRestore workflow, to its report. */
    const restore = async () => {
      const t0 = performance.now();
      const res = await api.inject({
        method: 'POST',
        url: `/api/v1/clusters/${name}/restores`,
        headers: { authorization: 'Bearer bench' },
        payload: { target: { time: target } },
      });
      if (res.statusCode !== 202) throw new Error(`restore refused: ${res.body}`);
      const body = JSON.parse(res.body);
      made.push(body.destination.dataDir);
      const report = (await temporal.workflow.getHandle(body.workflowId).result()) as RestoreReport;
      const seconds = (performance.now() - t0) / 1000;
      await check(report.destination.port, `pgdr (${method})`);
      await stopAndRemove(report.destination.dataDir);
      return { seconds, report };
    };
    return { config, deps, m, target, restoreDir, made, check, stopAndRemove, restore, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function restoreBench(): Promise<BenchRow[]> {
  const stack = await benchStack();
  const { layout, plan, secrets } = stack;
  await ensureBenchDb(stack);
  const runs = Number(process.env.PGDR_BENCH_RUNS ?? 3);
  const sql = (text: string, port = plan.primary.port) => psql(layout, plan, port, text, secrets);
  const resetArchiving = () =>
    psql(
      layout,
      plan,
      plan.primary.port,
      'alter system reset archive_command; alter system reset restore_command; select pg_reload_conf();',
      secrets,
    );

  let rows: BenchRow[];
  const session = await pitrSession(stack, 'basebackup');
  try {
    const { config, deps, m, target, restoreDir, made, check, stopAndRemove } = session;
    const wal = archiveCommands(config, 'rsbench');

    // 2. By hand, with the raw tools.
    const key = baseFolder(config.storage, 'rsbench', m.id) + m.objects[0]!.name;
    const manual: number[] = [];
    const manualReplay: number[] = [];
    for (let i = 0; i < runs; i++) {
      const d = join(restoreDir, `manual-${i}`);
      made.push(d);
      mkdirSync(restoreDir, { recursive: true, mode: 0o755 });
      mkdirSync(d, { mode: 0o700 });
      const ids = asUser(layout.pgUser);
      if (ids) chownSync(d, ids.uid, ids.gid);
      // A free port (a fixed one can be some connection's ephemeral port: 32768-60999 here).
      let port = 56900 + 10 * i;
      while (!(await portIsFree(port))) port++;
      const t0 = performance.now();
      const obj = await deps.s3.send(new GetObjectCommand({ Bucket: config.storage.bucket, Key: key }));
      const tar = spawnTool({ tool: 'tar', args: ['-x', '--zstd', '-C', d, '-f', '-'], osUser: layout.pgUser });
      await pipeline(obj.Body as NodeJS.ReadableStream, tar.stdin!);
      await tar;
      await runTool({ tool: 'pg_verifybackup', binDir: layout.pgBin, args: [d], osUser: layout.pgUser });
      appendFileSync(
        join(d, 'postgresql.auto.conf'),
        [
          `port = ${port}`,
          `restore_command = '${wal.restoreCommand}'`,
          `recovery_target_time = '${pgTimestamp(target)}'`,
          `recovery_target_action = 'pause'`,
          `archive_mode = 'off'`,
          '',
        ].join('\n'),
      );
      writeFileSync(join(d, 'recovery.signal'), '');
      if (ids) for (const f of ['postgresql.auto.conf', 'recovery.signal']) chownSync(join(d, f), ids.uid, ids.gid);
      const started = performance.now();
      await runTool({
        tool: 'pg_ctl',
        binDir: layout.pgBin,
        args: ['-D', d, '-l', join(d, 'manual.log'), '-W', 'start'],
        osUser: layout.pgUser,
      });
      for (;;) {
        const state = await sql(`select pg_get_wal_replay_pause_state()`, port).catch(() => '');
        if (state.trim() === 'paused') break;
        // (The server writes its pid file a moment after pg_ctl returns: judged after a grace.)
        if (runningPid(d) === null && performance.now() - started > 5000)
          throw new Error(
            `the manual restore's server exited: ${readFileSync(join(d, 'manual.log'), 'utf8').trim().split('\n').slice(-3).join(' | ')}`,
          );
        await new Promise((r) => setTimeout(r, 500));
      }
      manualReplay.push((performance.now() - started) / 1000);
      manual.push((performance.now() - t0) / 1000);
      await check(port, 'manual');
      await stopAndRemove(d);
    }

    // 3. pgdr, basebackup method with prefetching.
    const viaPgdr: { seconds: number; report: RestoreReport }[] = [];
    for (let i = 0; i < runs; i++) viaPgdr.push(await session.restore());
    const r = median(manual);
    const p = medianRun(viaPgdr);
    const ph = p.report.seconds;
    const pf = p.report.stop.prefetch;
    rows = [
      {
        metric: `restore by hand (S3 | tar --zstd, pg_verifybackup, start, replay to the target), ${(m.bytes / 1024 / 1024).toFixed(0)} MiB stored: seconds`,
        value: r.toFixed(2),
      },
      { metric: 'pgdr restore (API pre-flight + pitrRestore workflow): seconds', value: p.seconds.toFixed(2) },
      {
        metric: `  pgdr phases: preflight ${ph.preflight}, download ${ph.download}, extract ${ph.extract}, verify ${ph.verify}, replay ${ph.replay}`,
        value: '',
      },
      { metric: 'wall time ratio pgdr / by hand', value: (p.seconds / r).toFixed(3), target: '<= 1.1' },
      {
        metric: 'replay seconds: pgdr (prefetch spool) / by hand (pgdr wal fetch per segment)',
        value: `${ph.replay} / ${median(manualReplay).toFixed(2)} (ratio ${(ph.replay / median(manualReplay)).toFixed(2)}; ${pf ? `${pf.served} of ${pf.fetched} prefetched` : 'no prefetcher'})`,
        target: 'ratio <= 0.5',
      },
    ];
  } finally {
    await session.close();
    await resetArchiving();
  }

  // 4. The pgbackrest method: pgBackRest's own restore of the same database and workload.
  const pb = await pitrSession(stack, 'pgbackrest');
  try {
    const viaPb: { seconds: number; report: RestoreReport }[] = [];
    for (let i = 0; i < runs; i++) viaPb.push(await pb.restore());
    const q = medianRun(viaPb);
    const p = Number(rows[1]!.value);
    rows.push(
      {
        metric: `pgbackrest method restore (pgbackrest restore + replay, same workflow), ${(pb.m.bytes / 1024 / 1024).toFixed(0)} MiB stored: seconds`,
        value: q.seconds.toFixed(2),
      },
      {
        metric: `  pgbackrest phases: ${Object.entries(q.report.seconds)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
        value: '',
      },
      { metric: 'wall time ratio pgdr (basebackup, prefetch) / pgbackrest method', value: (p / q.seconds).toFixed(3), target: '<= 1.0' },
    );
  } finally {
    await pb.close();
    await resetArchiving();
  }
  return rows;
}

/** The run with the median wall time. */
function medianRun<T extends { seconds: number }>(runs: T[]): T {
  const m = median(runs.map((r) => r.seconds));
  return runs.find((r) => r.seconds === m)!;
}
