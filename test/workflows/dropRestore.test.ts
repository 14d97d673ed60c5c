/**
 * Restored copies as things users manage, end to end on a Postgres server of the test's own:
 * GET /restores shows each finished restore's copy as its node's agent sees it (running,
 * stopped, removed, port, directory), through the restoredCopies workflow; DELETE
 * /restores/:id (and `pgdr restore drop`) runs dropRestore, which stops the copy and removes
 * its directory, and refuses, touching nothing, a node's own data directory, a restore made in
 * place, and a directory without this restore's marker. Reports for the refusals are written
 * to the test's S3 prefix by hand: a real restore in place over a node is another test's job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { workflowBundle, type TestCluster } from '../helpers/cluster.js';
import { freshQueue, stackConfig, temporalClient, workerConnection } from '../helpers/stack.js';
import { runWorkersUntil } from '../helpers/workers.js';
import { dropRestore, type DropRestoreInput } from '../../workflows/dropRestore.js';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { securityApi, TEST_TOKEN } from '../security/helpers.js';
import { storeRestoreReport } from '../../adapters/reportStore.js';
import { setAsideName } from '../../domain/naming.js';
import { portIsFree, runningPid } from '../../adapters/pgHost.js';
import { runTool } from '../../adapters/gateway.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import type { RestoreReport } from '../../domain/restore.js';
import type { CopyFacts, RestoredCopy } from '../../domain/restoredCopy.js';

type Listed = RestoreReport & { live: RestoredCopy };

describe('restored copies: list and drop', () => {
  let src: PitrSource;
  let tc: TestCluster;
  let c: PitrSource['c'];
  const list = async (): Promise<Listed[]> => {
    const res = await c.call('GET', `/api/v1/clusters/${tc.name}/restores`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.workflowId).toMatch(new RegExp(`^restoredCopies/${tc.name}/`));
    return res.body.restores;
  };
  const live = async (id: string) => (await list()).find((r) => r.id === id)?.live;
  const drop = (id: string) => c.call('DELETE', `/api/v1/clusters/${tc.name}/restores/${id}`);
  /** A report of the test's own making in the test's S3 prefix. */
  const fakeReport = async (base: RestoreReport, id: string, over: Partial<RestoreReport>) => {
    const report = { ...base, id, ...over };
    await storeRestoreReport({ config: tc.config, s3: c.s3 }, report);
    return report;
  };
  const serves = async (port: number) => (await src.pgs.sqlAt(port, 'select 1')).trim() === '1';

  beforeAll(async () => {
    src = await pitrSource('copies', { tickSeconds: 2 });
    ({ tc, c } = src);
  }, 240_000);
  afterAll(async () => src?.close());

  it('lists a finished restore as running on its port in its directory; drop stops and removes it; dropping again says already removed', async () => {
    const { report, workflowId } = await restoreAndWait(c, tc.name, { target: { immediate: true } }, src.made);
    const d = report.destination;
    expect(await serves(d.port)).toBe(true);
    expect(await live(report.id)).toEqual({
      id: report.id,
      workflowId,
      kind: 'restore',
      node: 'primary',
      dataDir: d.dataDir,
      state: 'running',
      port: d.port,
      pid: runningPid(d.dataDir),
      note: null,
      droppable: true,
    });

    const dropped = await drop(report.id);
    expect(dropped.status, JSON.stringify(dropped.body)).toBe(200);
    expect(dropped.body).toMatchObject({
      id: report.id,
      restoreWorkflowId: workflowId,
      node: 'primary',
      dataDir: d.dataDir,
      stopped: true,
      removed: true,
      alreadyRemoved: false,
    });
    expect(dropped.body.dropWorkflowId).toMatch(new RegExp(`^dropRestore/${tc.name}/`));
    expect(existsSync(d.dataDir)).toBe(false);
    expect(existsSync(`${d.dataDir}.pgdr-drop-${report.id}`)).toBe(false);
    expect(await portIsFree(d.port)).toBe(true);
    expect(await live(report.id)).toMatchObject({ state: 'removed', pid: null, dataDir: d.dataDir, port: d.port });

    const again = await drop(report.id);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ id: report.id, stopped: false, removed: false, alreadyRemoved: true });
  }, 300_000);

  it("refuses a node's data directory, a restore made in place, and a directory without this restore's marker; nothing is stopped or removed", async () => {
    const { report: b } = await restoreAndWait(c, tc.name, { target: { immediate: true } }, src.made);
    const bDir = b.destination.dataDir;
    const expectRefused = async (id: string, problem: string) => {
      const res = await drop(id);
      expect(res.status, JSON.stringify(res.body)).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'RESTORE_DROP_REFUSED', cluster: tc.name, id, problems: 1 });
      expect(res.body.error.message).toBe(
        `drop of restore ${id} of cluster "${tc.name}" refused: ${problem}\nHINT: nothing was stopped or removed`,
      );
    };

    // The node's own data directory, named by a report: refused by the API before any workflow.
    const node = await fakeReport(b, '20200101T000000001Z', {
      workflowId: `pitrRestore/${tc.name}/fake-node`,
      destination: { ...b.destination, dataDir: src.pgs.dataDir },
    });
    await expectRefused(
      node.id,
      `primary:${src.pgs.dataDir} is the data directory of node "primary" of the cluster; pgdr drops only copies it restored`,
    );
    expect(await serves(src.pgs.port)).toBe(true);

    // A restore in place: its directory is live data now.
    const inPlace = await fakeReport(b, '20200101T000000002Z', {
      replaced: { oldDataDir: setAsideName(bDir, '20200101T000000002Z'), removed: true },
    });
    await expectRefused(
      inPlace.id,
      `restore ${inPlace.id} replaced primary:${bDir} in place (the old directory was ${setAsideName(bDir, '20200101T000000002Z')}): that directory is now live data, not a copy; pgdr does not drop it`,
    );

    // Another restore's copy is in the directory now (its marker names b's workflow): refused by the node.
    const other = await fakeReport(b, '20200101T000000003Z', { workflowId: `pitrRestore/${tc.name}/fake-other` });
    await expectRefused(
      other.id,
      `${bDir} now holds the copy of another restore (its marker names ${b.workflowId}, expected pitrRestore/${tc.name}/fake-other); drop that restore instead`,
    );
    expect(await serves(b.destination.port)).toBe(true);

    // A data directory pgdr did not restore (no marker).
    const bare = join(src.restoreDir, `${tc.name}-bare`);
    mkdirSync(bare, { recursive: true });
    writeFileSync(join(bare, 'PG_VERSION'), '15\n');
    writeFileSync(join(bare, 'postgresql.auto.conf'), '# Do not edit this file manually!\nport = 5999\n');
    src.made.push(bare);
    const noMarker = await fakeReport(b, '20200101T000000004Z', {
      workflowId: `pitrRestore/${tc.name}/fake-bare`,
      destination: { ...b.destination, dataDir: bare },
    });
    await expectRefused(
      noMarker.id,
      `${bare} carries no "# pgdr restore pitrRestore/${tc.name}/fake-bare" marker in its postgresql.auto.conf (a data directory pgdr did not restore); pgdr drops only copies it restored`,
    );
    expect(existsSync(join(bare, 'PG_VERSION'))).toBe(true);

    // b is untouched, and the list says what each report's directory holds.
    const listed = await list();
    const by = (id: string) => listed.find((r) => r.id === id)!.live;
    expect(by(b.id)).toMatchObject({ state: 'running', port: b.destination.port, droppable: true });
    expect(by(node.id)).toMatchObject({
      state: 'removed',
      droppable: `primary:${src.pgs.dataDir} is the data directory of node "primary" of the cluster; pgdr drops only copies it restored`,
    });
    expect(by(other.id)).toMatchObject({ state: 'removed' });
    expect(by(noMarker.id).state).toBe('removed');
    expect(by(inPlace.id)).toMatchObject({ state: 'running', note: `replaced ${bDir} in place: live data, not a copy` });
  }, 300_000);

  it('shows a stopped copy as stopped, and pgdr restore drop removes it', async () => {
    const { report } = await restoreAndWait(c, tc.name, { target: { immediate: true } }, src.made);
    const d = report.destination;
    await runTool({
      tool: 'pg_ctl',
      binDir: src.pgs.layout.pgBin,
      args: ['-D', d.dataDir, '-m', 'fast', '-w', 'stop'],
      osUser: src.pgs.layout.pgUser,
    });
    expect(await live(report.id)).toMatchObject({ state: 'stopped', pid: null, port: d.port });

    const api = securityApi(tc, c.temporal, c.s3);
    const url = await api.listen();
    try {
      const pgdr = (args: string[]) =>
        execa(join(repoRoot, 'bin/pgdr'), args, {
          env: { PGDR_API_URL: url, PGDR_API_TOKEN: TEST_TOKEN, PGDR_CONFIG: tc.configPath },
          reject: false,
        });
      const listed = await pgdr(['restores', tc.name]);
      expect(listed.exitCode, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(new RegExp(`${report.id} .* stopped +${d.port} +primary:${d.dataDir} `));
      const out = await pgdr(['restore', 'drop', tc.name, report.id]);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.stdout).toContain(`restore ${report.id}: removed primary:${d.dataDir} (dropRestore/${tc.name}/`);
      expect(existsSync(d.dataDir)).toBe(false);
      const twice = await pgdr(['restore', 'drop', tc.name, report.id]);
      expect(twice.stdout).toContain(`restore ${report.id}: primary:${d.dataDir} was already removed; nothing to do`);
      const unknown = await pgdr(['restore', 'drop', tc.name, '20200101T000000009Z']);
      expect(unknown.exitCode).toBe(1);
      expect(unknown.stderr).toContain(`no restore "20200101T000000009Z" of cluster "${tc.name}"`);
    } finally {
      await api.close();
    }
  }, 300_000);
});

describe('dropRestore with stub agents', () => {
  const config = stackConfig();
  const WF = 'pitrRestore/stub/2026-11-30T12-00-00-000Z';
  const report = {
    id: '20261130T120000000Z',
    workflowId: WF,
    destination: { node: 'n1', dataDir: '/r/stub-20261130T120000000Z', port: 20001 },
    replaced: null,
  };
  const facts = (over: Partial<CopyFacts> = {}): CopyFacts => ({
    dataDir: report.destination.dataDir,
    contents: 'pgData',
    markerWorkflowId: WF,
    pid: 7,
    port: 20001,
    ...over,
  });

  /** Runs dropRestore against agents that answer as told; returns its outcome and what was dropped. */
  async function run(seen: CopyFacts, over: Partial<DropRestoreInput> = {}) {
    const control = freshQueue('drop-control');
    const drops: unknown[] = [];
    const connection = await workerConnection(config);
    const workers = [
      await Worker.create({ connection, taskQueue: control, workflowBundle: await workflowBundle(), activities: {} }),
      await Worker.create({
        connection,
        taskQueue: `${control}-n1`,
        activities: {
          inspectRestoredCopies: async () => [seen],
          dropRestoredCopy: async (input: unknown) => (drops.push(input), { stopped: true, removed: true }),
        },
      }),
    ];
    const { client, close } = await temporalClient(config);
    try {
      const input: DropRestoreInput = { cluster: 'stub', report, taskQueue: `${control}-n1`, nodeDataDirs: { n1: '/pg/n1' }, ...over };
      const outcome = await runWorkersUntil(workers, () =>
        client.workflow
          .execute(dropRestore, { taskQueue: control, workflowId: freshQueue('drop-test'), args: [input] })
          .catch((err: unknown) => err),
      );
      return { outcome, drops };
    } finally {
      await close();
      await connection.close();
    }
  }
  const failure = (err: unknown) => (err as WorkflowFailedError).cause as ApplicationFailure;

  it("drops a copy that carries its marker, handing the agent the restore's workflow id and id", async () => {
    const { outcome, drops } = await run(facts());
    expect(outcome).toMatchObject({
      id: report.id,
      restoreWorkflowId: WF,
      node: 'n1',
      dataDir: report.destination.dataDir,
      stopped: true,
      removed: true,
      alreadyRemoved: false,
    });
    expect(drops).toEqual([{ dataDir: report.destination.dataDir, workflowId: WF, restoreId: report.id }]);
  });

  it('answers already removed for a gone directory without asking the agent to drop anything', async () => {
    const { outcome, drops } = await run(facts({ contents: 'absent', markerWorkflowId: null, pid: null, port: null }));
    expect(outcome).toMatchObject({ alreadyRemoved: true, stopped: false, removed: false });
    expect(drops).toEqual([]);
  });

  it('fails with RestoreDropRefusedError and drops nothing when the marker names another restore, or the report a node directory', async () => {
    const other = await run(facts({ markerWorkflowId: 'pitrRestore/stub/other' }));
    expect(other.outcome).toBeInstanceOf(WorkflowFailedError);
    expect(failure(other.outcome)).toMatchObject({ type: 'RestoreDropRefusedError', nonRetryable: true });
    expect(failure(other.outcome).message).toBe(
      `drop of restore ${report.id} of cluster "stub" refused: ${report.destination.dataDir} now holds the copy of another restore (its marker names pitrRestore/stub/other, expected ${WF}); drop that restore instead\nHINT: nothing was stopped or removed`,
    );
    expect(failure(other.outcome).details?.[0]).toEqual({ code: 'RESTORE_DROP_REFUSED', cluster: 'stub', id: report.id, problems: 1 });
    expect(other.drops).toEqual([]);
    const node = await run(facts(), { nodeDataDirs: { n1: report.destination.dataDir } });
    expect(failure(node.outcome).message).toContain(`n1:${report.destination.dataDir} is the data directory of node "n1" of the cluster`);
    expect(node.drops).toEqual([]);
  });
});
