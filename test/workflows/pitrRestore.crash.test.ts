/**
 * SIGKILL the worker while a restore downloads its backup: after a new worker starts, the
 * restore carries on (the interrupted step starts again in its own, emptied directory) and
 * still lands exactly on its target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { timeAfter } from '../helpers/ticks.js';
import { pitrSource, type PitrSource } from '../helpers/restore.js';
import { spawnWorker, waitForLine } from '../helpers/process.js';
import type { RestoreReport } from '../../domain/restore.js';
import { runningActivity, scheduledActivityTypes } from '../helpers/history.js';

describe('point-in-time restore when the worker dies', () => {
  let src: PitrSource;
  let worker: ReturnType<typeof spawnWorker>;

  beforeAll(async () => {
    src = await pitrSource('pitrcrash', {
      tickSeconds: 6,
      // The worker in a process of its own, so the test can kill it.
      worker: async (tc) => {
        worker = spawnWorker(tc.configPath);
        await waitForLine(worker, 'pgdr worker polling');
        return {
          async stop() {
            if (worker.pid) process.kill(-worker.pid, 'SIGTERM');
            await worker;
          },
        };
      },
      // Enough data that the download takes a few seconds.
      beforeBackup: (db) =>
        db
          .query(`create table big as select g, md5(g::text) || md5((g * 7)::text) as pad from generate_series(1, 2500000) g`)
          .then(() => undefined),
    });
    // A 2.5-million-row table, a backup and the ticks: over 300 s at a load average of 18 on 2 cores.
  }, 600_000);
  afterAll(async () => src?.close());

  it('resumes after a restart and still stops exactly at the target', async () => {
    const { c, tc, ticks, pgs, made, restoreDir } = src;
    const k = Math.floor(ticks.length / 2);
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, { target: { time: timeAfter(ticks, k) } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    made.push(res.body.destination.dataDir);
    const handle = c.temporal.workflow.getHandle(res.body.workflowId);
    // The download running on the worker, as the server sees it (a query would wait for the loaded worker).
    for (let i = 0; ; i++) {
      if (await runningActivity(handle, 'fetchBaseBackup')) break;
      if (i > 3000) throw new Error(`the restore never started downloading: ${(await scheduledActivityTypes(handle)).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    process.kill(-worker.pid!, 'SIGKILL');
    await worker;

    worker = spawnWorker(tc.configPath);
    await waitForLine(worker, 'pgdr worker polling');
    const report = (await handle.result()) as RestoreReport;
    expect((await pgs.sqlAt(report.destination.port, 'select count(*), max(id) from ticks')).trim()).toBe(`${k}|${k}`);
    expect((await pgs.sqlAt(report.destination.port, 'select count(*) from big')).trim()).toBe('2500000');
    // The interrupted activity was retried: its first attempt timed out on its heartbeat.
    const history = await handle.fetchHistory();
    const retried = history.events!.filter(
      (e) => e.activityTaskTimedOutEventAttributes || (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1,
    );
    expect(retried.length).toBeGreaterThan(0);
    // One directory: the restore's own.
    expect(readdirSync(restoreDir)).toEqual([report.destination.dataDir.split('/').pop()]);
    console.log(
      `FAULT | worker SIGKILLed mid-restore (downloading the backup) | restore resumed on a new worker (${retried.length} retried or timed-out activity event(s)) and stopped exactly at the target (${k} of ${ticks.length} ticks, 2500000 rows of the big table); one directory, the restore's own`,
    );
  });
});
