/**
 * A standby rebuilt from the offsite copy (storage.secondary) catches up through the prefetch
 * spool, and the prefetcher reads the offsite copy: the primary repository is a MinIO of the
 * test's own, stopped for the whole rebuild, so nothing the standby replays can come from there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RebuildReport } from '../../domain/replication.js';
import { prefetchSpool } from '../../domain/walAgent.js';
import { activePrefetchers, lastPrefetchStats } from '../../adapters/walPrefetcher.js';
import { until } from '../helpers/stack.js';
import { ownMinio } from '../helpers/services.js';
import { stackSecondary } from '../helpers/secondary.js';
import { replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';
import { streams as streamsOn } from '../helpers/rebuild.js';

let own: Awaited<ReturnType<typeof ownMinio>>;
let rc: ReplicatedCluster;

beforeAll(async () => {
  own = await ownMinio('rebuild-far-primary');
  rc = await replicatedCluster('rebuild-far', {
    adjustRoot: (raw) => {
      raw.storage.endpoint = own.endpoint;
      raw.storage.secondary = stackSecondary(raw.storage.prefix);
    },
  });
  await rc.sql('primary', 'create table kept (id int primary key); insert into kept select generate_series(1, 5000);');
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  await own?.close();
});

describe('replicaRebuild from the offsite copy', () => {
  it('catches up through the prefetch spool from the secondary while the primary storage is down, then streams', async () => {
    const b = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type: 'full' });
    expect(b.status, JSON.stringify(b.body)).toBe(202);
    const backup = (await resultOf<{ manifest: { id: string } }>(rc, b.body.workflowId)).manifest;
    // The good backup started its copy to the secondary (the backup and the WAL it needs).
    await rc.c.temporal.workflow.getHandle(`copyBackup/${rc.tc.name}/after-${backup.id}`).result();
    await rc.sql('primary', 'insert into kept select generate_series(5001, 6000);');
    writeFileSync(join(rc.dataDir('replica'), 'damaged.marker'), 'the old copy');

    await own.stop();
    let report: RebuildReport;
    try {
      const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/nodes/replica/rebuild`, {
        source: 'backup',
        repository: 'secondary',
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      report = await resultOf<RebuildReport>(rc, res.body.workflowId);
      expect(report).toMatchObject({ source: 'backup', backupId: backup.id, oldDataDirRemoved: true, repository: { name: 'secondary' } });
      // restore_command reads the spool, with the offsite copy's direct fetch behind it.
      const restoreCommand = (await rc.sql('replica', 'show restore_command')).trim();
      expect(restoreCommand).toContain(`--spool ${prefetchSpool(rc.dataDir('replica'))}`);
      expect(restoreCommand).toMatch(/--repository secondary/);
      // Streaming, it asks for nothing more, and its prefetcher stops by itself, spool and all.
      const dataDir = rc.dataDir('replica');
      await until('the standby prefetcher stopping', async () => !existsSync(prefetchSpool(dataDir)), 90_000, 500);
      // Replay took WAL from the spool while the primary storage was down: the prefetcher read the secondary.
      expect(lastPrefetchStats(dataDir)).toMatchObject({ corrupt: 0 });
      expect(lastPrefetchStats(dataDir)!.served).toBeGreaterThanOrEqual(1);
      expect(await activePrefetchers()).not.toContain(dataDir);
    } finally {
      await own.start();
    }
    expect(await streamsOn(rc, 'replica')).toBe(true);
    expect((await rc.sql('replica', 'select count(*) from kept')).trim()).toBe('6000');
  }, 300_000);
});
