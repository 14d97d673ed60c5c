import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { reconcileSchedules } from '../../control/schedules.js';
import { parseConfig } from '../../config/load.js';
import { listCatalog } from '../../adapters/catalogStore.js';
import type { PgdrConfig } from '../../config/schema.js';

function withSchedules(tc: TestCluster, schedules: Record<string, { type: string; cron: string }>): PgdrConfig {
  const raw = JSON.parse(JSON.stringify(tc.config));
  raw.clusters[tc.name].backup.schedules = schedules;
  return parseConfig(raw);
}

describe('schedules', () => {
  let tc: TestCluster;
  let c: Awaited<ReturnType<typeof clients>>;
  beforeAll(async () => {
    tc = testCluster('sched');
    c = await clients(tc);
  });
  afterAll(async () => {
    await reconcileSchedules(c.temporal, withSchedules(tc, {}), [tc.name]);
    await c.close();
  });

  it('are created, updated, left alone and deleted to match the config', async () => {
    const v1 = withSchedules(tc, { nightly: { type: 'full', cron: '0 3 * * *' } });
    expect(await reconcileSchedules(c.temporal, v1, [tc.name])).toMatchObject({
      created: [`pgdr/${tc.name}/nightly`],
      updated: [],
      deleted: [],
    });
    const h = c.temporal.schedule.getHandle(`pgdr/${tc.name}/nightly`);
    let d = await h.describe();
    expect(d.info.nextActionTimes.length).toBeGreaterThan(0);
    expect(d.info.nextActionTimes.every((t) => t.getUTCHours() === 3 && t.getUTCMinutes() === 0)).toBe(true);
    expect(d.policies.overlap).toBe('SKIP');
    expect(d.policies.catchupWindow).toBe(3_600_000);

    // Changing the cron updates the schedule in place.
    const v2 = withSchedules(tc, { nightly: { type: 'full', cron: '30 4 * * *' } });
    expect(await reconcileSchedules(c.temporal, v2, [tc.name])).toMatchObject({ created: [], updated: [`pgdr/${tc.name}/nightly`] });
    d = await h.describe();
    expect(d.info.nextActionTimes.every((t) => t.getUTCHours() === 4 && t.getUTCMinutes() === 30)).toBe(true);

    // An operator's pause survives reconciliation; an unchanged config changes nothing.
    const api2 = await clients({ ...tc, config: v2 });
    const paused = await api2.call('POST', `/api/v1/clusters/${tc.name}/schedules/nightly/pause`, { note: 'storage migration' });
    await api2.close();
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, note: 'storage migration' });
    expect(await reconcileSchedules(c.temporal, v2, [tc.name])).toMatchObject({ unchanged: [`pgdr/${tc.name}/nightly`] });
    expect((await h.describe()).state).toMatchObject({ paused: true, note: 'storage migration' });

    // Removing it from the config deletes it.
    const report = await reconcileSchedules(c.temporal, withSchedules(tc, {}), [tc.name]);
    expect(report.deleted).toContain(`pgdr/${tc.name}/nightly`);
    await expect(h.describe()).rejects.toThrow(/not found/i);
  });

  it('run a real backup when triggered, and show it as a recent action', async () => {
    const cfg = withSchedules(tc, { weekly: { type: 'full', cron: '0 1 * * 0' } });
    await reconcileSchedules(c.temporal, cfg, [tc.name]);
    const workers = await startWorkers({ ...tc, config: cfg });
    const api = await clients({ ...tc, config: cfg });
    try {
      const res = await api.call('POST', `/api/v1/clusters/${tc.name}/schedules/weekly/trigger`, {});
      expect(res.status).toBe(202);
      let workflowId: string | undefined;
      for (let i = 0; i < 120 && !workflowId; i++) {
        workflowId = (await c.temporal.schedule.getHandle(`pgdr/${tc.name}/weekly`).describe()).info.recentActions[0]?.action.workflow
          .workflowId;
        if (!workflowId) await new Promise((r) => setTimeout(r, 250));
      }
      expect(workflowId).toMatch(new RegExp(`^backup/${tc.name}/schedule-weekly-`));
      // The Temporal UI credits the run to its schedule.
      const from = cfg.clusters[tc.name]!.backup.from;
      const described = await c.temporal.workflow.getHandle(workflowId!).describe();
      expect(await described.staticSummary()).toBe(`backup ${tc.name}: full backup from the ${from} (by schedule pgdr/${tc.name}/weekly)`);
      const { manifest } = await c.temporal.workflow.getHandle(workflowId!).result();
      expect((await listCatalog(c.s3, tc.config.storage, tc.name)).map((e) => [e.id, e.status])).toEqual([[manifest.id, 'good']]);
      const listed = await api.call('GET', `/api/v1/clusters/${tc.name}/schedules`);
      expect(listed.body.schedules[0]).toMatchObject({ name: 'weekly', cron: '0 1 * * 0', paused: false });
      expect(listed.body.schedules[0].recentActions[0].workflowId).toBe(workflowId);
      expect(listed.body.schedules[0].nextActionTimes[0]).toMatch(/T01:00:00.000Z$/);
    } finally {
      await workers.stop();
      await api.close();
    }
  });

  it('answer 404 for a schedule the config does not have, naming the known ones', async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/schedules/hourly/pause`, {});
    expect(res.status).toBe(404);
    expect(res.body.error.message).toBe(`unknown schedule "hourly" of cluster "${tc.name}": expected one of (none configured)`);
  });
});
