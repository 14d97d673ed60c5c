/**
 * Starting procedures from the API: workflow ids that cannot collide, and a race between two
 * mutating starts on one cluster that Temporal decides (one 202, the rest 409 naming the
 * winner), with no run of the cluster failed. The races run through two API instances that
 * share nothing but Temporal, as two API processes would.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { clients, startWorkers, testCluster, workflowBundle, type TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/stack.js';
import { newWorkflowId } from '../../control/procedures.js';
import { buildServer } from '../../api/server.js';
import { WORKFLOW_ID_PATTERN } from '../../domain/naming.js';
import { lockHolder } from '../../adapters/temporal.js';
import { createControlActivities } from '../../activities/control.js';

describe('workflow ids', () => {
  afterEach(() => void vi.useRealTimers());

  it('differ for two starts in the same millisecond and keep the readable <procedure>/<cluster>/<UTC timestamp> form', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-30T12:34:56.789Z'));
    const ids = Array.from({ length: 50 }, () => newWorkflowId('backup', 'demo'));
    expect(new Set(ids).size).toBe(50);
    for (const id of ids) {
      expect(id).toMatch(/^backup\/demo\/2026-11-30T12-34-56-789Z-[0-9a-f]{6}$/);
      expect(id).toMatch(WORKFLOW_ID_PATTERN);
    }
  });
});

/** An API instance with its own Temporal connection, as an API process would have. */
async function apiInstance(tc: TestCluster, s3: unknown, lockVerdictWaitMs: number) {
  const connection = await Connection.connect({ address: tc.config.temporal.address });
  const temporal = new Client({ connection, namespace: tc.config.temporal.namespace });
  const api = buildServer({ config: tc.config, temporal, s3: s3 as never, token: 'test-token', lockVerdictWaitMs });
  const call = async (method: 'POST', url: string, body: unknown) => {
    const res = await api.inject({ method, url, headers: { authorization: 'Bearer test-token' }, payload: body as object });
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };
  return {
    call,
    close: async () => {
      await api.close();
      await connection.close();
    },
  };
}

interface Run {
  workflowId: string;
  status: string;
}

/** The cluster's runs (of one procedure, when given), from Temporal's visibility. */
async function runsOf(temporal: Client, cluster: string, procedure?: string): Promise<Run[]> {
  const runs: Run[] = [];
  const query = `PgdrCluster = '${cluster}'` + (procedure ? ` AND PgdrProcedure = '${procedure}'` : '');
  for await (const w of temporal.workflow.list({ query })) runs.push({ workflowId: w.workflowId, status: w.status.name });
  return runs;
}

/**
 * Ends a backup the race left running: cancelled once it streams (a cancel while it still probes
 * its nodes would fail it instead), and awaited. Other procedures are left to finish.
 */
async function finish(temporal: Client, workflowId: string): Promise<void> {
  const handle = temporal.workflow.getHandle(workflowId);
  if (workflowId.startsWith('backup/')) {
    await until('the backup to stream or end', async () => {
      const step = (await handle.query<{ step: string }>('progress').catch(() => null))?.step;
      return step?.startsWith('streaming') || (await handle.describe()).status.name !== 'RUNNING';
    });
    if ((await handle.describe()).status.name === 'RUNNING') await handle.cancel();
  }
  await handle.result().catch(() => undefined);
}

const races = [
  { what: 'four backups', path: 'backups', body: { type: 'full' }, procedure: 'backup', count: 4 },
  // A dry-run expire ends in a second: its plan waits for the replies, so the winner still holds
  // the lock when the loser's run asks for it (two runs that never overlap may both be 202).
  { what: 'two expires', path: 'expire', body: { dryRun: true }, procedure: 'expireBackups', count: 2, hold: 'planExpiry' as const },
];

describe('mutating starts that race on one cluster', () => {
  it.each(races)(
    '$what started at once through two API instances before any worker polls: one 202, the rest 409 naming the winner, no failed run',
    async ({ path, body, procedure, count, ...race }) => {
      // The slow backup keeps the winner holding the lock while the losers are judged.
      const tc = testCluster('race', (c) => (c.backup = { ...c.backup, maxRateKBps: 2048 }));
      const c = await clients(tc);
      // Long enough that the verdict, not the wait, ends each request while the workers start.
      const a = { ...(await apiInstance(tc, c.s3, 120_000)), temporal: c.temporal };
      const b = await apiInstance(tc, c.s3, 120_000);
      let workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
      // Bundled before the race, so the workers start well inside the API's wait for the verdict.
      await workflowBundle();
      try {
        // With no worker yet nothing holds the lock, so every request passes the early check and
        // starts its run: the lock itself must decide. Today's code answered 202 to each.
        const url = `/api/v1/clusters/${tc.name}/${path}`;
        const answers = Promise.all(
          Array.from({ length: count }, (_, i) => (i % 2 ? b.call('POST', url, body) : a.call('POST', url, body))),
        );
        await until(`${count} runs to be started`, async () => (await runsOf(a.temporal, tc.name, procedure)).length === count, 30_000);
        let repliesIn!: () => void;
        const held = new Promise<void>((resolve) => (repliesIn = resolve));
        const activities = createControlActivities({ config: tc.config, s3: c.s3 });
        const hold = 'hold' in race ? race.hold : undefined;
        if (hold) {
          const real = activities[hold];
          activities[hold] = async (...args: Parameters<typeof real>) => (await held, real(...args));
        }
        workers = await startWorkers(tc, { controlActivities: activities });
        const replies = await answers.finally(repliesIn);

        const won = replies.filter((r) => r.status === 202);
        const lost = replies.filter((r) => r.status !== 202);
        expect(won, JSON.stringify(replies)).toHaveLength(1);
        const winner = won[0]!.body.workflowId as string;
        expect(winner).toMatch(new RegExp(`^${procedure}/${tc.name}/\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z-[0-9a-f]{6}$`));
        for (const r of lost) {
          expect(r.status, JSON.stringify(r.body)).toBe(409);
          expect(r.body.error).toMatchObject({ code: 'CLUSTER_BUSY', cluster: tc.name, runningWorkflowId: winner });
          expect(r.body.error.message).toBe(`cluster "${tc.name}" is busy with ${winner}\nHINT: wait for it to finish, or cancel it`);
        }

        // Every loser ended completed with the refusal as its result; none failed.
        const runs = await until('the losing runs to close', async () => {
          const all = await runsOf(a.temporal, tc.name, procedure);
          return all.filter((r) => r.workflowId !== winner).every((r) => r.status !== 'RUNNING') && all;
        });
        expect(runs).toHaveLength(count);
        expect((await runsOf(a.temporal, tc.name)).filter((r) => r.status === 'FAILED')).toEqual([]);
        for (const r of runs.filter((x) => x.workflowId !== winner)) {
          expect(r.status).toBe('COMPLETED');
          expect(await a.temporal.workflow.getHandle(r.workflowId).result()).toEqual({
            refused: `busy with ${winner}`,
            code: 'CLUSTER_BUSY',
            cluster: tc.name,
            runningWorkflowId: winner,
          });
        }
        await finish(a.temporal, winner);
        expect(await until('the lock to be released', async () => (await lockHolder(a.temporal, tc.name)) === null)).toBe(true);
      } finally {
        await workers?.stop();
        await b.close();
        await a.close();
        await c.close();
      }
    },
  );

  it('four backups started at once while the worker runs: one 202, the rest 409 naming the winner, no failed run', async () => {
    const tc = testCluster('racew', (c) => (c.backup = { ...c.backup, maxRateKBps: 2048 }));
    const workers = await startWorkers(tc);
    const c = await clients(tc);
    const a = await apiInstance(tc, c.s3, 120_000);
    const b = await apiInstance(tc, c.s3, 120_000);
    try {
      const url = `/api/v1/clusters/${tc.name}/backups`;
      const replies = await Promise.all([
        a.call('POST', url, {}),
        b.call('POST', url, {}),
        a.call('POST', url, {}),
        b.call('POST', url, {}),
      ]);
      const won = replies.filter((r) => r.status === 202);
      expect(won, JSON.stringify(replies)).toHaveLength(1);
      const winner = won[0]!.body.workflowId as string;
      for (const r of replies.filter((x) => x.status !== 202)) {
        expect(r.status, JSON.stringify(r.body)).toBe(409);
        expect(r.body.error).toMatchObject({ code: 'CLUSTER_BUSY', runningWorkflowId: winner });
      }
      await finish(c.temporal, winner);
      const runs = await until('every run to close', async () => {
        const all = await runsOf(c.temporal, tc.name, 'backup');
        return all.every((r) => r.status !== 'RUNNING') && all;
      });
      expect(runs.map((r) => r.workflowId)).toContain(winner);
      expect((await runsOf(c.temporal, tc.name)).filter((r) => r.status === 'FAILED')).toEqual([]);
    } finally {
      await workers.stop();
      await b.close();
      await a.close();
      await c.close();
    }
  });

  it('a start with no worker polling answers 202 once the verdict wait ends, and the run takes the lock when a worker comes', async () => {
    const tc = testCluster('racep', (c) => (c.backup = { ...c.backup, maxRateKBps: 2048 }));
    const c = await clients(tc);
    const a = await apiInstance(tc, c.s3, 1000);
    let workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
    try {
      const res = await a.call('POST', `/api/v1/clusters/${tc.name}/backups`, {});
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const handle = c.temporal.workflow.getHandle(res.body.workflowId);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(await lockHolder(c.temporal, tc.name)).toBeNull();
      workers = await startWorkers(tc);
      expect(await until('the run to hold the lock', () => lockHolder(c.temporal, tc.name))).toBe(res.body.workflowId);
      await finish(c.temporal, res.body.workflowId);
      expect((await runsOf(c.temporal, tc.name)).filter((r) => r.status === 'FAILED')).toEqual([]);
    } finally {
      await workers?.stop();
      await a.close();
      await c.close();
    }
  });
});
