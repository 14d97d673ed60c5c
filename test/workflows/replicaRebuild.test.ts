/**
 * replicaRebuild against a real primary and standby: a damaged standby is rebuilt from the
 * primary and from a backup, streams again, and its old data directory is removed only after
 * that; a failed rebuild puts the old directory back; the primary is never rebuilt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RebuildReport } from '../../domain/replication.js';
import { prefetchSpool } from '../../domain/walAgent.js';
import { activePrefetchers, lastPrefetchStats } from '../../adapters/walPrefetcher.js';
import { until } from '../helpers/stack.js';
import { replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';
import { asideOf, pgCtl as pgCtlOf, rebuildWatching as watch, streams as streamsOn } from '../helpers/rebuild.js';

let rc: ReplicatedCluster;

beforeAll(async () => {
  rc = await replicatedCluster('rebuild');
  await rc.sql('primary', 'create table kept (id int primary key); insert into kept select generate_series(1, 5000);');
}, 180_000);

afterAll(async () => {
  await rc?.stop();
});

const pgCtl = (dataDir: string, ...args: string[]) => pgCtlOf(rc, dataDir, ...args);
const streams = (node: string) => streamsOn(rc, node);
const rebuildWatching = (source: 'primary' | 'backup') => watch(rc, source);

describe('replicaRebuild', () => {
  it('rebuilds a damaged standby from the primary; the old directory goes only once it streams', async () => {
    const dataDir = rc.dataDir('replica');
    // Damage: stop the standby, leave a marker, and zero its pg_control. It cannot start.
    await pgCtl(dataDir, '-m', 'fast', '-w', 'stop');
    writeFileSync(join(dataDir, 'damaged.marker'), 'the old copy');
    writeFileSync(join(dataDir, 'global', 'pg_control'), Buffer.alloc(8192));
    await expect(pgCtl(dataDir, '-w', '-t', '10', '-l', join(dataDir, 'start.log'), 'start')).rejects.toThrow();

    const { report, seen } = await rebuildWatching('primary');
    expect(report).toMatchObject({ node: 'replica', source: 'primary', primary: 'primary', oldDataDirRemoved: true, viaPatroni: false });
    expect(report.lagBytes).toBeLessThanOrEqual(1024 * 1024);
    // While cloning and catching up, the damaged copy (with its marker) was still aside.
    const during = seen.filter((s) => /pg_basebackup|waiting until replica streams/.test(s.step));
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((s) => s.aside.length === 1 && s.marker)).toBe(true);
    // Afterwards: gone, and the standby streams on its own port with the primary's rows.
    expect(asideOf(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, 'damaged.marker'))).toBe(false);
    expect(await streams('replica')).toBe(true);
    await rc.sql('primary', 'insert into kept values (5001)');
    await until(
      'row 5001 on the rebuilt standby',
      async () => (await rc.sql('replica', 'select count(*) from kept')).trim() === '5001',
      30_000,
    );
    expect((await rc.sql('replica', 'select pg_is_in_recovery()')).trim()).toBe('t');
  }, 240_000);

  it('refuses to rebuild the primary (422) and starts nothing', async () => {
    // Runs that did (or do) work: a refused run ends failed with its refusal.
    const working = `PgdrCluster = '${rc.tc.name}' AND PgdrProcedure = 'replicaRebuild' AND ExecutionStatus != 'Failed'`;
    const before = await rc.c.temporal.workflow.count(working);
    const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/nodes/primary/rebuild`, { source: 'primary' });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'NODE_IS_PRIMARY', node: 'primary' });
    expect(res.body.error.message).toMatch(/is the primary/);
    const bad = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/nodes/replica/rebuild`, { source: 'tape' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/body\.source/);
    await new Promise((r) => setTimeout(r, 1500));
    await until('the refused run to close', async () => (await rc.c.temporal.workflow.count(working)).count === before.count, 30_000);
    expect((await rc.c.temporal.workflow.count(working)).count).toBe(before.count);
    expect((await rc.c.temporal.workflow.getHandle(res.body.error.workflowId).describe()).status.name).toBe('FAILED');
    expect((await rc.sql('primary', 'select pg_is_in_recovery()')).trim()).toBe('f');
  }, 60_000);

  it('rebuilds from the newest backup, catching up from the archive, then streaming', async () => {
    const b = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type: 'full' });
    expect(b.status).toBe(202);
    const backup = await resultOf<{ manifest: { id: string } }>(rc, b.body.workflowId);
    await rc.sql('primary', 'insert into kept select generate_series(5002, 6000); select pg_switch_wal();');
    writeFileSync(join(rc.dataDir('replica'), 'damaged.marker'), 'the old copy');
    // Through the CLI: progress on stderr, the report on stdout.
    const cli = await rc.cli(['rebuild', rc.tc.name, 'replica', '--source', 'backup', '--wait']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^started replicaRebuild\/\S+ \(rebuilding replica from the newest backup\)$/m);
    // The progress display (polled each second): one line per step seen, ending with done.
    const steps = cli.stderr.trim().split('\n');
    expect(steps.length).toBeGreaterThanOrEqual(2);
    expect(steps.at(-1)).toBe('done');
    expect(cli.stdout).toMatch(new RegExp(`^rebuilt replica from backup ${backup.manifest.id}: streaming from primary, lag `, 'm'));
    const report = (await rc.c.call('GET', `/api/v1/clusters/${rc.tc.name}/replication`)).body.rebuilds.at(-1) as RebuildReport;
    expect(report).toMatchObject({ source: 'backup', backupId: backup.manifest.id, oldDataDirRemoved: true });
    expect(await streams('replica')).toBe(true);
    expect((await rc.sql('replica', 'select count(*) from kept')).trim()).toBe('6000');
    // It caught up through the prefetch spool; streaming, it asks for nothing, and the prefetcher
    // stops by itself and removes the spool.
    const dataDir = rc.dataDir('replica');
    await until('the standby prefetcher stopping', async () => !existsSync(prefetchSpool(dataDir)), 90_000, 500);
    expect(lastPrefetchStats(dataDir)).toMatchObject({ corrupt: 0 });
    expect(lastPrefetchStats(dataDir)!.served).toBeGreaterThanOrEqual(1);
    expect(await activePrefetchers()).not.toContain(dataDir);
  }, 240_000);

  it('puts the old directory back and restarts the standby when the rebuild fails', async () => {
    const dataDir = rc.dataDir('replica');
    writeFileSync(join(dataDir, 'damaged.marker'), 'still the old copy');
    // The clone cannot work: pgdr may not replicate from the primary.
    await rc.sql('primary', 'alter role pgdr noreplication');
    try {
      const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/nodes/replica/rebuild`, { source: 'primary' });
      expect(res.status).toBe(202);
      await expect(resultOf(rc, res.body.workflowId)).rejects.toThrow();
    } finally {
      await rc.sql('primary', 'alter role pgdr replication');
    }
    expect(asideOf(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, 'damaged.marker'))).toBe(true);
    await until('the restored standby streaming again', () => streams('replica'), 60_000);
    expect((await rc.sql('replica', 'select count(*) from kept')).trim()).toBe('6000');
  }, 240_000);
});
