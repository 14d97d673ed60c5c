/**
 * A forked archive on a real cluster: a standby promoted by hand (pg_ctl promote) while the
 * primary keeps writing, both archiving into the cluster's archive. The WAL check goes red
 * naming both timelines, and a `latest` restore recovers the real primary's newest rows, not
 * the promoted standby's, pinned to the primary's timeline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { listArchivedWal } from '../../adapters/walStore.js';
import { parseHistory } from '../../domain/wal.js';
import type { WalCheckResult } from '../../domain/walCheck.js';
import { rootMessage } from '../../workflows/probe.js';
import { replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';
import { pgCtl } from '../helpers/rebuild.js';
import { discardRestore, restoreAndWait } from '../helpers/restore.js';
import { switchAndArchive } from '../helpers/ticks.js';
import { until } from '../helpers/stack.js';

let rc: ReplicatedCluster;
const made: string[] = [];

/** Closes the node's current segment and waits until its archiver has it in S3; returns its name. */
async function switchOn(node: string): Promise<string> {
  const db = await rc.connect(rc.port(node));
  try {
    return await switchAndArchive(db);
  } finally {
    await db.end();
  }
}

beforeAll(async () => {
  // A second standby keeps streaming from the real primary: that is how pgdr tells the primary apart.
  rc = await replicatedCluster('splitbrain', { standbys: ['replica', 'follower'] });
}, 240_000);

afterAll(async () => {
  for (const dir of made) await discardRestore(rc, dir);
  await rc?.stop();
});

describe('a standby promoted by hand while the primary keeps writing', () => {
  it("turns the WAL check red naming both timelines, and a latest restore recovers the primary's newest rows", async () => {
    // 1. A backup on timeline 1, then rows both standbys replay.
    await rc.sql(
      'primary',
      "create table t (id int primary key, origin text not null); insert into t select g, 'primary' from generate_series(1, 100) g;",
    );
    const b = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type: 'full' });
    expect(b.status).toBe(202);
    await resultOf(rc, b.body.workflowId);
    await until('the replica has row 100', async () => (await rc.sql('replica', 'select count(*) from t')).trim() === '100', 60_000);
    // A healthy check before the fork: the checks after it list only what is new since this one.
    const before = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/wal-archive/check`, {});
    expect(((await resultOf(rc, before.body.workflowId)) as WalCheckResult).listing).toMatchObject({ mode: 'full' });

    // 2. The fork: the replica becomes a second read-write primary on timeline 2 and archives.
    await pgCtl(rc, rc.dataDir('replica'), '-w', '-t', '60', 'promote');
    const history = parseHistory(await rc.sql('replica', `select pg_read_file('pg_wal/00000002.history')`));
    const switchLsn = history.at(-1)!.switchLsn;
    await until(
      '00000002.history in the archive',
      async () => (await listArchivedWal({ config: rc.tc.config, s3: rc.c.s3 }, rc.tc.name)).some((a) => a.name === '00000002.history'),
      60_000,
    );
    await rc.sql('replica', `insert into t select g, 'replica' from generate_series(100001, 100050) g`);
    const replicaNewest = await switchOn('replica');
    expect(replicaNewest.slice(0, 8)).toBe('00000002');
    // S3's LastModified may have one-second resolution: the primary's next segments come later.
    await new Promise((r) => setTimeout(r, 1100));

    // 3. The real primary keeps writing past the switch point, over several segments.
    for (let i = 0; i < 3; i++) {
      await rc.sql('primary', `insert into t select g, 'primary' from generate_series(${101 + i * 100}, ${200 + i * 100}) g`);
      await switchOn('primary');
    }
    const primaryRows = (await rc.sql('primary', 'select count(*) from t')).trim();
    expect(primaryRows).toBe('400');

    // 4. The WAL check is red and names both timelines, the switch point and each newest segment.
    const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/wal-archive/check`, {});
    expect(res.status).toBe(202);
    const failure = await rc.c.temporal.workflow
      .getHandle(res.body.workflowId)
      .result()
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const stored = (await rc.c.call('GET', `/api/v1/clusters/${rc.tc.name}/wal-archive`)).body as WalCheckResult;
    expect(stored.workflowId).toBe(res.body.workflowId);
    expect(stored).toMatchObject({ healthy: false, primary: 'primary', timeline: 1 });
    const split = stored.problems.filter((p) => p.startsWith('split brain'));
    expect(split).toHaveLength(1);
    const roundTrip = stored.roundTrip!.segment;
    expect(roundTrip.slice(0, 8)).toBe('00000001');
    expect(split[0]).toMatch(
      new RegExp(
        `^split brain: timelines 1 and 2 both advanced\\. timeline 2 branched off timeline 1 at ${switchLsn.replace('/', '\\/')} \\(its history file archived at \\S+\\), yet \\d+ segment\\(s\\) of timeline 1 from that switch point on were archived after that, the newest ${roundTrip} at \\S+; timeline 2's newest is ${replicaNewest} at \\S+\\. HINT: two primaries archive into this archive; the current primary is on timeline 1: stop the server on timeline 2`,
      ),
    );
    expect(stored.problems).toContain(
      'more than one primary: primary (timeline 1), replica (timeline 2); primary is the one the standbys stream from',
    );
    expect(rootMessage(failure)).toContain('split brain: timelines 1 and 2 both advanced');
    // Seen through the index (only what is new was listed), and again by the next check: the
    // parent's segments past the switch point keep their times in the index.
    expect(stored.listing).toMatchObject({ mode: 'incremental' });
    const again = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/wal-archive/check`, {});
    await rc.c.temporal.workflow
      .getHandle(again.body.workflowId)
      .result()
      .catch(() => undefined);
    const second = (await rc.c.call('GET', `/api/v1/clusters/${rc.tc.name}/wal-archive`)).body as WalCheckResult;
    expect(second.workflowId).toBe(again.body.workflowId);
    expect(second.listing).toMatchObject({ mode: 'incremental' });
    const head = (ps: string[]) => ps.filter((p) => p.startsWith('split brain')).map((p) => p.slice(0, 100));
    expect(head(second.problems)).toEqual(head(split));

    // 5. latest: the primary's 400 rows, none of the promoted standby's, recovery pinned to timeline 1.
    const { report } = await restoreAndWait(rc.c, rc.tc.name, { target: { latest: true } }, made);
    expect(report.timeline).toEqual({
      number: 1,
      source: 'primary',
      pinned: true,
      note: 'more than one primary: primary (timeline 1), replica (timeline 2); primary is the one the standbys stream from',
    });
    const copy = await rc.connect(report.destination.port);
    try {
      const rows = (
        await copy.query(`select count(*)::int as n, count(*) filter (where origin = 'replica')::int as foreign, max(id) as max from t`)
      ).rows[0];
      expect(rows).toEqual({ n: 400, foreign: 0, max: 400 });
      expect((await copy.query(`select setting from pg_settings where name = 'recovery_target_timeline'`)).rows[0].setting).toBe('1');
    } finally {
      await copy.end();
    }
  }, 420_000);
});
