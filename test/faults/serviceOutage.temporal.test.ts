/**
 * The Temporal dev server restarted (stopped, then started on the same SQLite file) while a
 * backup uploads, on a Temporal of the test's own (the shared one serves every other test
 * file). The worker is a real process and is not restarted: it reconnects by itself, the
 * backup's activity carries on (or is retried) and the workflow completes, listed once, with
 * the cluster lock free. While Temporal is down the API says so instead of hanging.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clients, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgresWithBigTable, slowBackups } from '../helpers/postgres.js';
import { ownTemporal } from '../helpers/services.js';
import { spawnWorker, waitForLine } from '../helpers/process.js';
import { until } from '../helpers/stack.js';
import { lockHolder } from '../../adapters/temporal.js';
import type { BackupManifest } from '../../domain/catalog.js';

describe('Temporal restart', () => {
  let pg: Awaited<ReturnType<typeof ownPostgresWithBigTable>>;
  let temporal: Awaited<ReturnType<typeof ownTemporal>>;
  let tc: TestCluster;
  let worker: ReturnType<typeof spawnWorker>;
  let c: Awaited<ReturnType<typeof clients>>;

  beforeAll(async () => {
    pg = await ownPostgresWithBigTable();
    temporal = await ownTemporal('temporal-restart');
    tc = testCluster('flttmp', slowBackups(pg), (raw) => {
      raw.temporal.address = temporal.address;
    });
    worker = spawnWorker(tc.configPath);
    await waitForLine(worker, 'pgdr worker polling');
    c = await clients(tc);
  }, 300_000);

  afterAll(async () => {
    if (worker?.pid && worker.exitCode === null) {
      process.kill(-worker.pid, 'SIGTERM');
      await worker;
    }
    await c?.close();
    await pg?.stop();
    await temporal?.close();
  });

  it('a backup started before the restart completes after it, and new work runs on the same worker', async () => {
    const t0 = Date.now();
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = c.temporal.workflow.getHandle(res.body.workflowId);
    await until(
      'the upload streaming',
      async () => (await handle.query<{ step: string }>('progress').catch(() => null))?.step.startsWith('streaming'),
      120_000,
      200,
    );
    await new Promise((r) => setTimeout(r, 2000));

    const down = Date.now();
    await temporal.stop();
    expect(temporal.pid()).toBeUndefined();
    // While it is down the API answers, quickly and clearly, instead of hanging.
    const stopSeconds = (Date.now() - down) / 1000;
    const asked = Date.now();
    const during = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    const answeredIn = (Date.now() - asked) / 1000;
    expect(during.status, JSON.stringify(during.body)).toBe(503);
    expect(during.body.error.code).toBe('TEMPORAL_UNAVAILABLE');
    expect(during.body.error.message).toContain(temporal.address);
    await new Promise((r) => setTimeout(r, 5000));
    await temporal.start();
    const downSeconds = (Date.now() - down) / 1000;

    const { manifest } = (await handle.result()) as { manifest: BackupManifest };
    expect(manifest.status).toBe('good');
    expect(manifest.verification?.ok).toBe(true);
    // The worker lived through it: same process, still running.
    expect(worker.exitCode).toBeNull();
    const history = await handle.fetchHistory();
    const attempts = Math.max(...history.events!.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0));
    const listed = await c.call('GET', `/api/v1/clusters/${tc.name}/backups`);
    expect(listed.body.backups.map((b: BackupManifest) => b.id)).toEqual([manifest.id]);
    expect(await lockHolder(c.temporal, tc.name)).toBeNull();

    // New work after the restart runs on the same worker: a status probe answers.
    const status = await c.call('GET', `/api/v1/clusters/${tc.name}/status`);
    expect(status.status, JSON.stringify(status.body)).toBe(200);
    expect(status.body.nodes[0]).toMatchObject({ node: 'primary', probe: { role: 'primary' } });

    console.log(
      `FAULT | Temporal dev server restarted mid-backup (down ${downSeconds.toFixed(1)} s, of which stopping ${stopSeconds.toFixed(1)} s) | backup ${manifest.id} completed good and verified in ${((Date.now() - t0) / 1000).toFixed(0)} s (highest activity attempt ${attempts}); worker process survived and polls again; listed once, lock free; API answered ${during.status} ${during.body.error.code} in ${answeredIn.toFixed(1)} s while down`,
    );
  }, 400_000);
});
