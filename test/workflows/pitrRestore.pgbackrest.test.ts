/**
 * Point-in-time restore with the pgbackrest method: pgbackrest restore --type=time|lsn into a
 * new directory, WAL from pgBackRest's archive through `pgdr wal fetch --via pgbackrest`, and
 * exactly the rows committed up to the target. A restore point name goes to pgBackRest as is;
 * one it would write into postgresql.auto.conf unescaped (a backslash, a quote) is refused by
 * the pre-flight.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { switchAndArchive, timeAfter } from '../helpers/ticks.js';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';

describe('point-in-time restore (pgbackrest method)', () => {
  let src: PitrSource;

  beforeAll(async () => {
    src = await pitrSource('pitrpbr', { method: 'pgbackrest' });
  }, 240_000);
  afterAll(async () => src?.close());

  it('restores to a time in the middle with pgbackrest restore --type=time: exactly the rows up to it', async () => {
    const k = Math.floor(src.ticks.length / 2);
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { time: timeAfter(src.ticks, k) } }, src.made);
    expect(report).toMatchObject({
      method: 'pgbackrest',
      stop: { state: 'paused' },
      verification: { tool: 'pgbackrest verify', ok: true },
    });
    expect(await src.rows(report.destination.port)).toBe(`${k}|1|${k}`);
    // pgBackRest wrote the target; pgdr's restore_command fetches through pgBackRest's archive.
    const auto = (
      await src.pgs.sqlAt(
        report.destination.port,
        `select current_setting('restore_command'), current_setting('recovery_target_time') <> ''`,
      )
    ).trim();
    expect(auto).toMatch(/wal fetch .*--via pgbackrest.*\|t$/);
  });

  it("checks the archive through pgBackRest's own layout: healthy, with the window up to the last commit", async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/wal-archive/check`, {});
    const check = await src.c.temporal.workflow.getHandle(res.body.workflowId).result();
    expect(check.problems).toEqual([]);
    expect(check.continuity).toMatchObject({ missingCount: 0, missingHistory: [] });
    expect(check.roundTrip.ok).toBe(true);
    const window = check.window.at(-1);
    expect(Date.parse(window.latest.time)).toBeGreaterThanOrEqual(Date.parse(src.ticks.at(-1)!.before));
    // The next check lists only what is new, under pgBackRest's archive version folder.
    for (let i = 0; i < 2; i++) {
      await src.db.query('insert into ticks values ($1, now())', [4000 + i]);
      await switchAndArchive(src.db);
    }
    const next = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/wal-archive/check`, {});
    const again = await src.c.temporal.workflow.getHandle(next.body.workflowId).result();
    expect(again.problems).toEqual([]);
    expect(again.listing).toMatchObject({ mode: 'incremental', listCalls: 2 }); // the timeline, and the sweep's page
    expect(again.listing.listedObjects).toBeGreaterThanOrEqual(2);
    expect(again.listing.listedObjects).toBeLessThan(again.continuity.archivedObjects);
    expect(again.continuity).toMatchObject({ missingCount: 0, fromSegment: check.continuity.fromSegment });
  });

  it('restores to an lsn with pgbackrest restore --type=lsn and promotes', async () => {
    const k = Math.floor(src.ticks.length * 0.7);
    const { report } = await restoreAndWait(
      src.c,
      src.tc.name,
      { target: { lsn: src.ticks[k - 1]!.lsnAfter }, action: 'promote' },
      src.made,
    );
    expect(report.stop.state).toBe('promoted');
    expect(await src.rows(report.destination.port)).toBe(`${k}|1|${k}`);
  });

  it('restores to " qa-lead" with pgbackrest restore --type=name, and refuses "qa-bs\\" in the pre-flight with the reason', async () => {
    await src.db.query('insert into ticks values (5001, now())');
    await src.db.query('select pg_create_restore_point($1::text)', [' qa-lead']);
    await src.db.query('insert into ticks values (5002, now())');
    await src.db.query('select pg_create_restore_point($1::text)', ['qa-bs\\']);
    await src.db.query('insert into ticks values (5003, now())');
    await switchAndArchive(src.db);
    const refused = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { name: 'qa-bs\\' } });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error.message).toContain(
      `restore point "qa-bs\\\\" cannot be handed to pgBackRest for backup ${src.backup.id}: it holds a backslash at offset 5, which pgBackRest writes into postgresql.auto.conf unescaped`,
    );
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { name: ' qa-lead' } }, src.made);
    expect(report.method).toBe('pgbackrest');
    expect((await src.pgs.sqlAt(report.destination.port, 'select count(*), max(id) from ticks where id > 5000')).trim()).toBe('1|5001');
  });
});
