/**
 * The pgbackrest method end to end, on a Postgres server of the test's own: WAL archived by
 * `pgdr wal push` handing over to pgbackrest archive-push, a full, then a diff whose parent is
 * recorded, each verified by pgbackrest and checked against the repo objects in MinIO.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { listKeys } from '../../adapters/storage.js';
import { clusterPrefix } from '../../adapters/storage.js';
import type { BackupManifest } from '../../domain/catalog.js';

describe('backup with the pgbackrest method', () => {
  let pg: Awaited<ReturnType<typeof ownPostgres>>;
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;

  beforeAll(async () => {
    pg = await ownPostgres();
    await pg.start();
    tc = testCluster('pbr', (cl) => {
      cl.method = 'pgbackrest';
      cl.nodes = { primary: pg.node };
    });
    workers = await startWorkers(tc);
    c = await clients(tc);
    const en = await c.call('POST', `/api/v1/clusters/${tc.name}/archive/enable`, {});
    await c.temporal.workflow.getHandle(en.body.workflowId).result();
  });
  afterAll(async () => {
    await workers?.stop();
    await c?.close();
    await pg?.stop();
  });

  const backup = async (type: string): Promise<BackupManifest> => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type });
    expect(res.status).toBe(202);
    return (await c.temporal.workflow.getHandle(res.body.workflowId).result()).manifest;
  };

  it('takes a full, then a diff whose parent is recorded, both verified, with the repo in MinIO', async () => {
    const full = await backup('full');
    expect(full).toMatchObject({
      method: 'pgbackrest',
      type: 'full',
      parent: null,
      status: 'good',
      timeline: 1,
      sourceNode: 'primary',
      compression: 'zst',
    });
    expect(full.pgbackrestLabel).toMatch(/^\d{8}-\d{6}F$/);
    expect(full.verification).toMatchObject({ tool: 'pgbackrest verify', ok: true });
    expect(full.verification!.detail).toContain(full.pgbackrestLabel!);
    expect(full.startWalSegment).toMatch(/^00000001[0-9A-F]{16}$/);

    await pg.sql(`create table t(id int, pad text); insert into t select g, repeat('z', 100) from generate_series(1, 20000) g;`);
    const diff = await backup('diff');
    expect(diff).toMatchObject({ method: 'pgbackrest', type: 'diff', parent: full.id, status: 'good' });
    expect(diff.pgbackrestLabel).toMatch(new RegExp(`^${full.pgbackrestLabel}_\\d{8}-\\d{6}D$`));

    // The repo lives in the bucket: both sets' manifests, and the WAL pgbackrest archived.
    const repo = `${clusterPrefix(tc.config.storage, tc.name)}pgbackrest/`;
    const keys = (await listKeys(c.s3, tc.config.storage.bucket, repo)).map((k) => k.key);
    for (const label of [full.pgbackrestLabel, diff.pgbackrestLabel])
      expect(keys).toContain(`${repo}backup/${tc.name}/${label}/backup.manifest`);
    expect(keys.some((k) => k.includes(`/archive/${tc.name}/15-1/0000000100000000/${full.startWalSegment}-`))).toBe(true);

    const listed = await c.call('GET', `/api/v1/clusters/${tc.name}/backups`);
    expect(
      listed.body.backups.map((b: { id: string; type: string; parent: string | null; status: string }) => [
        b.id,
        b.type,
        b.parent,
        b.status,
      ]),
    ).toEqual([
      [full.id, 'full', null, 'good'],
      [diff.id, 'diff', full.id, 'good'],
    ]);
    // Two pgBackRest backups, each verified over the whole repository: 91 s in a loaded CI run.
  }, 300_000);
});
