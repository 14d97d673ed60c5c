/**
 * Every recovery target on a Postgres server of the test's own. An xid target stops exactly at
 * that transaction, with both methods: its row is there with inclusive, absent with inclusive:
 * false, and the next transaction's row absent either way. Then the primary is restored in place
 * to an earlier time and promoted, so timeline 2 branches off timeline 1 in the cluster's archive
 * while timeline 1's later rows stay archived: asked for timeline 1, a time past the switch
 * recovers exactly timeline 1's rows up to it; a time after timeline 1's newest commit is refused,
 * naming where timeline 2 branched off.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { listArchivedWal } from '../../adapters/walStore.js';
import { parseHistory } from '../../domain/wal.js';
import { parseLsn } from '../../domain/lsn.js';
import { switchAndArchive } from '../helpers/ticks.js';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { until } from '../helpers/stack.js';
import type { RestoreReport } from '../../domain/restore.js';

const NOW = `to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** One row in its own transaction: its xid (64-bit form) and the server's clock just after the commit. */
async function mark(db: pg.Client, id: number): Promise<{ xid: string; after: string }> {
  const r = await db.query('insert into marks values ($1) returning pg_current_xact_id()::text as xid', [id]);
  const t = await db.query(`select ${NOW} as t`);
  await new Promise((res) => setTimeout(res, 50));
  return { xid: r.rows[0].xid as string, after: t.rows[0].t as string };
}

const marks = async (src: PitrSource, port: number) =>
  (await src.pgs.sqlAt(port, `select coalesce(string_agg(id::text, ',' order by id), '-') from marks`)).trim();

describe.each(['basebackup', 'pgbackrest'] as const)('an xid target (%s method)', (method) => {
  let src: PitrSource;
  const xids: string[] = [];

  beforeAll(async () => {
    src = await pitrSource(`xid${method === 'pgbackrest' ? 'pbr' : 'bb'}`, {
      method,
      tickSeconds: 1,
      beforeBackup: async (db) => void (await db.query('create table marks (id int primary key)')),
    });
    for (const id of [1, 2, 3]) xids.push((await mark(src.db, id)).xid);
    await switchAndArchive(src.db);
  }, 240_000);
  afterAll(async () => src?.close());

  it('with inclusive keeps the transaction and nothing after it, and the stop is checked in the copy', async () => {
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { xid: xids[1] } }, src.made);
    expect(report).toMatchObject({ method, target: { xid: xids[1] }, inclusive: true, stop: { state: 'paused', xactStatus: 'committed' } });
    expect(await marks(src, report.destination.port)).toBe('1,2');
  });

  it('with inclusive: false leaves the transaction out, and takes the xid as a JSON number too', async () => {
    const { report } = await restoreAndWait(
      src.c,
      src.tc.name,
      { target: { xid: Number(xids[1]) }, inclusive: false, action: 'promote' },
      src.made,
    );
    expect(report).toMatchObject({ target: { xid: xids[1] }, inclusive: false, stop: { state: 'promoted' } });
    expect(report.stop.xactStatus).not.toBe('committed');
    expect(await marks(src, report.destination.port)).toBe('1');
  });

  it('refuses an xid that ended in no archived segment since the backup, and a malformed one with 400', async () => {
    const never = String(BigInt(xids[2]!) + 1000n);
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { xid: never } });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.error.message).toContain(`xid ${never} has no commit or abort record in the archived WAL on timeline 1 from segment `);
    const bad = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { xid: '2' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual([
      {
        field: 'body.target.xid',
        message:
          'expected a transaction id in decimal: the 32-bit form from 3 to 4294967295 (as pg_waldump and age() show it), or the 64-bit form with epoch (pg_current_xact_id(), txid_current()) whose low 32 bits are 3 or more; it is 2, a special transaction id (got "2")',
      },
    ]);
  });
});

describe('a time on the old timeline after the primary was restored in place (timeline 2)', () => {
  let src: PitrSource;
  /** A client of the primary on timeline 2 (the source's own closed before the in-place restore). */
  let db: pg.Client;
  let beforeSwitch: string;
  let onOld: string;
  let switchLsn: string;

  beforeAll(async () => {
    src = await pitrSource('tlold', {
      tickSeconds: 1,
      beforeBackup: async (db) => void (await db.query('create table marks (id int primary key)')),
    });
    // Timeline 1: rows 10, 11 | the in-place restore's target | 12, 13 | the old-branch target | 14.
    await mark(src.db, 10);
    beforeSwitch = (await mark(src.db, 11)).after;
    await mark(src.db, 12);
    onOld = (await mark(src.db, 13)).after;
    await mark(src.db, 14);
    await switchAndArchive(src.db);
    await src.db.end();

    // The primary restored in place to just after row 11 and promoted: timeline 2, archived.
    const { report } = await restoreAndWait(
      src.c,
      src.tc.name,
      {
        target: { time: beforeSwitch },
        action: 'promote',
        destination: { node: 'primary', dataDir: src.pgs.dataDir, port: src.pgs.port },
        replaceExisting: true,
        confirm: src.tc.name,
      },
      [],
    );
    expect(report.stop.state).toBe('promoted');
    db = await src.pgs.connect();
    expect((await db.query('select timeline_id from pg_control_checkpoint()')).rows[0].timeline_id).toBe(2);
    await mark(db, 20);
    await mark(db, 21);
    await switchAndArchive(db);
    await until(
      '00000002.history in the archive',
      async () => (await listArchivedWal({ config: src.tc.config, s3: src.c.s3 }, src.tc.name)).some((a) => a.name === '00000002.history'),
      60_000,
    );
    switchLsn = parseHistory((await db.query(`select pg_read_file('pg_wal/00000002.history') as h`)).rows[0].h).at(-1)!.switchLsn;
  }, 300_000);
  afterAll(async () => {
    await db?.end();
    await src?.close();
  });

  it("recovers timeline 1's rows up to a time past the switch when timeline 1 is asked for", async () => {
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { time: onOld }, timeline: 1 }, src.made);
    expect(report.timeline).toEqual({ number: 1, source: 'request', pinned: false, note: null, requested: 1 });
    expect(await marks(src, report.destination.port)).toBe('10,11,12,13');
  });

  it("follows the primary's timeline 2 without one: the same time holds only the rows before the switch", async () => {
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { time: onOld } }, src.made);
    expect(report.timeline).toMatchObject({ number: 2, source: 'primary' });
    expect(await marks(src, report.destination.port)).toBe('10,11');
  });

  it('recovers timeline 2 to the end of its own transaction by xid when timeline 2 is asked for', async () => {
    const x = await db.query(`select xmin::text as xid from marks where id = 20`);
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { xid: x.rows[0].xid }, timeline: 2 }, src.made);
    expect((report as RestoreReport).stop.xactStatus).toBe('committed');
    expect(await marks(src, report.destination.port)).toBe('10,11,20');
  });

  it('lists both timelines in the recovery window, each along its own history', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/wal-archive/check`, {});
    expect(res.status).toBe(202);
    const check = await src.c.temporal.workflow.getHandle(res.body.workflowId).result();
    expect(check.problems).toEqual([]);
    const w = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/recovery-window`);
    expect(w.status).toBe(200);
    type B = {
      timeline: number;
      parent: number | null;
      switchLsn: string | null;
      current: boolean;
      earliest: { backupId?: string } | null;
      latest: { lsn: string; time: string | null } | null;
    };
    const branches = w.body.branches as B[];
    expect(branches.map((b) => [b.timeline, b.parent, b.switchLsn, b.current, b.earliest?.backupId])).toEqual([
      [1, null, null, false, src.backup.id],
      [2, 1, switchLsn, true, src.backup.id],
    ]);
    // Timeline 1's own WAL goes on past the switch (rows 12 to 14); timeline 2's latest is its newest commit.
    expect(parseLsn(branches[0]!.latest!.lsn) > parseLsn(switchLsn)).toBe(true);
    expect(branches[1]!.latest!.time).not.toBeNull();
  });

  it("refuses a time after timeline 1's newest commit, naming where timeline 2 branched off it", async () => {
    const late = (await db.query(`select ${NOW} as t`)).rows[0].t as string;
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { time: late }, timeline: 1 });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.error.message).toContain(`time ${late} is after timeline 1's newest recoverable commit at `);
    expect(res.body.error.message).toContain(`branched off it: timeline 2 at ${switchLsn}); expected a time on timeline 1 up to `);
    const unknown = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { time: late }, timeline: 5 });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.message).toContain(
      'timeline 5 is not in the cluster\'s archive; expected one of 1, 2, "current" or "latest"',
    );
  });
});
