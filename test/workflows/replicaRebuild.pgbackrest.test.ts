/**
 * replicaRebuild from a backup with the pgbackrest method: the newest set is a diff, so
 * `pgbackrest restore --type=standby --set=<diff>` brings back the full and the diff, WAL comes
 * from pgBackRest's archive, then the standby streams. The old directory stays aside until then.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackupManifest } from '../../domain/catalog.js';
import { until } from '../helpers/stack.js';
import { replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';
import { asideOf, rebuildWatching, streams } from '../helpers/rebuild.js';

let rc: ReplicatedCluster;

beforeAll(async () => {
  rc = await replicatedCluster('rebuildpbr', { adjust: (cl) => void (cl.method = 'pgbackrest') });
  const en = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/archive/enable`, {});
  expect(en.status, JSON.stringify(en.body)).toBe(202);
  await resultOf(rc, en.body.workflowId);
  await rc.sql('primary', 'create table kept (id int primary key); insert into kept select generate_series(1, 5000);');
}, 180_000);

afterAll(async () => {
  await rc?.stop();
});

async function backupOf(type: 'full' | 'diff'): Promise<BackupManifest> {
  const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return (await resultOf<{ manifest: BackupManifest }>(rc, res.body.workflowId)).manifest;
}

describe('replicaRebuild (pgbackrest method)', () => {
  it('rebuilds a standby from the newest set (a diff) with pgbackrest restore --type=standby, then it streams', async () => {
    const full = await backupOf('full');
    await rc.sql('primary', 'insert into kept select generate_series(5001, 7000)');
    const diff = await backupOf('diff');
    expect(full).toMatchObject({ method: 'pgbackrest', type: 'full', status: 'good' });
    expect(diff).toMatchObject({ method: 'pgbackrest', type: 'diff', status: 'good' });
    // Written after the newest set: the rebuilt standby gets these from the archive or by streaming.
    await rc.sql('primary', 'insert into kept select generate_series(7001, 8000); select pg_switch_wal();');

    const dataDir = rc.dataDir('replica');
    writeFileSync(join(dataDir, 'damaged.marker'), 'the old copy');
    const { report, seen } = await rebuildWatching(rc, 'backup');
    expect(report).toMatchObject({ node: 'replica', source: 'backup', backupId: diff.id, primary: 'primary', oldDataDirRemoved: true });
    // pgBackRest restored the diff's label as a standby, while the old copy (with its marker) was aside.
    const restoring = seen.filter((s) => s.step === `pgbackrest restore --type=standby --set=${diff.pgbackrestLabel}`);
    expect(restoring.length).toBeGreaterThan(0);
    expect(restoring.every((s) => s.aside.length === 1 && s.marker)).toBe(true);
    expect(asideOf(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, 'damaged.marker'))).toBe(false);
    expect(existsSync(join(dataDir, 'standby.signal'))).toBe(true);
    // Its restore_command reads pgBackRest's archive, and it streams on its slot with every row.
    expect(readFileSync(join(dataDir, 'postgresql.auto.conf'), 'utf8')).toMatch(/restore_command = '.*wal fetch .*--via pgbackrest/);
    expect(await streams(rc, 'replica')).toBe(true);
    await rc.sql('primary', 'insert into kept values (8001)');
    await until(
      'row 8001 on the rebuilt standby',
      async () => (await rc.sql('replica', 'select count(*) from kept')).trim() === '8001',
      30_000,
    );
    expect((await rc.sql('replica', 'select pg_is_in_recovery()')).trim()).toBe('t');
  }, 300_000);
});
