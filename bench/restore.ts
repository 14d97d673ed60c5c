/**
 * Point-in-time restore of the bench database (about 1 GB): pgdr's API + pitrRestore workflow
 * against the same restore done by hand in the same run: the object streamed from S3 into
 * `tar -x --zstd`, pg_verifybackup, recovery settings, pg_ctl start, wait until paused at the
 * target. By hand replays through `pgdr wal fetch` (one process and one round trip per segment,
 * what every restore did before prefetching); pgdr's restore replays from the agent's prefetch
 * spool (restore.prefetch). Replay is timed on its own for both: from the server's start to the
 * pause at the target.
 */
import { appendFileSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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
import { createWorkers } from '../worker/workers.js';
import { backup } from '../workflows/backup.js';
import { unlessRefused } from '../workflows/lock.js';
import { buildServer } from '../api/server.js';
import { pgTimestamp, type RestoreReport } from '../domain/restore.js';
import type { BenchRow } from './backup.js';
import { benchCluster, benchStack, ensureBenchDb, median } from './stack.js';

export async function restoreBench(): Promise<BenchRow[]> {
  const stack = await benchStack();
  const { layout, plan, secrets } = stack;
  await ensureBenchDb(stack);
  const runs = Number(process.env.PGDR_BENCH_RUNS ?? 3);
  const sql = (text: string, port = plan.primary.port) => psql(layout, plan, port, text, secrets);

  // A cluster over the bench primary with a fresh prefix; restores under the bench stack.
  const restoreDir = join(layout.dir, `restores-${Date.now().toString(36)}`);
  const { run, config, deps } = await benchCluster(layout, 'rsbench', (demo) => ({
    ...demo,
    backup: { ...demo.backup, verify: false, schedules: {} },
    restore: { dir: restoreDir },
  }));
  const { s3 } = deps;
  const wal = archiveCommands(config, 'rsbench');

  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const workers = await createWorkers({
    config,
    connection,
    plan: { control: true, agents: [{ cluster: 'rsbench', node: 'primary' }] },
    shutdownGraceTime: '5 seconds',
  });
  const running = Promise.all(workers.map((w) => w.run()));
  const clientConn = await Connection.connect({ address: config.temporal.address });
  const temporal = new Client({ connection: clientConn, namespace: config.temporal.namespace });
  const api = buildServer({ config, temporal, s3, token: 'bench' });
  const made: string[] = [];
  try {
    // 1. A backup, then about 300 MB of WAL, a target in the middle of it, and more after.
    const b = await temporal.workflow.execute(backup, {
      taskQueue: config.temporal.taskQueue,
      workflowId: `backup/rsbench/bench-${run}`,
      args: [{ ...backupInput(config, 'rsbench', 'full', 'bench'), expire: false }],
    });
    const m = unlessRefused(b).manifest;
    console.log(`bench: restore source ${m.id}, ${(m.bytes / 1024 / 1024).toFixed(0)} MiB stored`);
    await sql(`create table if not exists bench_marks(id serial primary key, at timestamptz default clock_timestamp(), pad text)`);
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
    const ids = asUser(layout.pgUser);
    const stopAndRemove = async (d: string) => {
      await runTool({
        tool: 'pg_ctl',
        binDir: layout.pgBin,
        args: ['-D', d, '-m', 'immediate', '-w', 'stop'],
        osUser: layout.pgUser,
      }).catch(() => undefined);
      rmSync(d, { recursive: true, force: true });
    };

    // 2. By hand, with the raw tools.
    const key = baseFolder(config.storage, 'rsbench', m.id) + m.objects[0]!.name;
    const manual: number[] = [];
    const manualReplay: number[] = [];
    for (let i = 0; i < runs; i++) {
      const d = join(restoreDir, `manual-${i}`);
      made.push(d);
      mkdirSync(restoreDir, { recursive: true, mode: 0o755 });
      mkdirSync(d, { mode: 0o700 });
      if (ids) chownSync(d, ids.uid, ids.gid);
      const port = 56900 + i;
      const t0 = performance.now();
      const obj = await s3.send(new GetObjectCommand({ Bucket: config.storage.bucket, Key: key }));
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
        await new Promise((r) => setTimeout(r, 500));
      }
      manualReplay.push((performance.now() - started) / 1000);
      manual.push((performance.now() - t0) / 1000);
      await check(port, 'manual');
      await stopAndRemove(d);
    }

    // 3. pgdr: the API's pre-flight, then the pitrRestore workflow, to its report.
    const viaPgdr: number[] = [];
    const phases: RestoreReport['seconds'][] = [];
    const served: string[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const res = await api.inject({
        method: 'POST',
        url: '/api/v1/clusters/rsbench/restores',
        headers: { authorization: 'Bearer bench' },
        payload: { target: { time: target } },
      });
      if (res.statusCode !== 202) throw new Error(`restore refused: ${res.body}`);
      const body = JSON.parse(res.body);
      made.push(body.destination.dataDir);
      const report = (await temporal.workflow.getHandle(body.workflowId).result()) as RestoreReport;
      viaPgdr.push((performance.now() - t0) / 1000);
      phases.push(report.seconds);
      const pf = report.stop.prefetch;
      served.push(pf ? `${pf.served} of ${pf.fetched} prefetched` : 'no prefetcher');
      await check(report.destination.port, 'pgdr');
      await stopAndRemove(report.destination.dataDir);
    }
    const r = median(manual);
    const p = median(viaPgdr);
    const ph = phases[viaPgdr.indexOf(p)]!;
    return [
      {
        metric: `restore by hand (S3 | tar --zstd, pg_verifybackup, start, replay to the target), ${(m.bytes / 1024 / 1024).toFixed(0)} MiB stored: seconds`,
        value: r.toFixed(2),
      },
      { metric: 'pgdr restore (API pre-flight + pitrRestore workflow): seconds', value: p.toFixed(2) },
      {
        metric: `  pgdr phases: preflight ${ph.preflight}, download ${ph.download}, extract ${ph.extract}, verify ${ph.verify}, replay ${ph.replay}`,
        value: '',
      },
      { metric: 'wall time ratio pgdr / by hand', value: (p / r).toFixed(3), target: '<= 1.1' },
      {
        metric: 'replay seconds: pgdr (prefetch spool) / by hand (pgdr wal fetch per segment)',
        value: `${ph.replay} / ${median(manualReplay).toFixed(2)} (ratio ${(ph.replay / median(manualReplay)).toFixed(2)}; ${served[viaPgdr.indexOf(p)]})`,
        target: 'ratio <= 0.5',
      },
    ];
  } finally {
    for (const d of made) {
      await runTool({
        tool: 'pg_ctl',
        binDir: layout.pgBin,
        args: ['-D', d, '-m', 'immediate', '-w', 'stop'],
        osUser: layout.pgUser,
      }).catch(() => undefined);
      rmSync(d, { recursive: true, force: true });
    }
    await api.close();
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running;
    await clientConn.close();
    await connection.close();
    await psql(
      layout,
      plan,
      plan.primary.port,
      'alter system reset archive_command; alter system reset restore_command; select pg_reload_conf();',
      secrets,
    );
  }
}
