/**
 * awaitArchiverIdle (the switchover's drain before PAUSE) on a server of the test's own: with
 * a failing archive_command a switched segment stays .ready and the wait gives up after its
 * timeout, saying how many are left; once archiving works again it reports idle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { awaitArchiverIdle } from '../../activities/steps/replication.js';
import { createSecretReader } from '../../adapters/secrets.js';

describe('awaitArchiverIdle', () => {
  let pg: Awaited<ReturnType<typeof ownPostgres>>;
  let tc: TestCluster;
  const deps = () => ({ config: tc.config, readSecret: createSecretReader() });

  beforeAll(async () => {
    pg = await ownPostgres();
    await pg.start();
    tc = testCluster('archidle', (cl) => {
      cl.nodes = { primary: pg.node };
    });
  }, 120_000);
  afterAll(async () => pg?.stop());

  it('waits for .ready segments, gives up at its timeout naming how many, and reports idle once they are archived', async () => {
    await pg.sql(`alter system set archive_command = 'false'; select pg_reload_conf()`);
    await pg.sql(`create table t as select g from generate_series(1, 1000) g; select pg_switch_wal()`);
    const stuck = await awaitArchiverIdle(deps(), { cluster: tc.name, node: 'primary', timeoutSeconds: 1 });
    expect(stuck.idle).toBe(false);
    expect(stuck.ready).toBeGreaterThanOrEqual(1);
    expect(stuck.seconds).toBeGreaterThanOrEqual(1);

    await pg.sql(`alter system set archive_command = '/bin/true'; select pg_reload_conf()`);
    const drained = await awaitArchiverIdle(deps(), { cluster: tc.name, node: 'primary', timeoutSeconds: 60 });
    expect(drained).toMatchObject({ idle: true, ready: 0 });
    expect(drained.seconds).toBeLessThan(60);
  });
});
