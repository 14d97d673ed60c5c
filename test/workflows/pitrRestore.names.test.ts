/**
 * Restore point names exactly as Postgres keeps them, end to end on a Postgres server of the
 * test's own (basebackup method): names with a leading or a trailing space, a backslash before
 * a letter, a trailing backslash, and a trailing line break, each made with
 * pg_create_restore_point between two rows. A restore to each name the API takes stops exactly
 * there; a name that only matches after trimming, or after cutting at a line break, is refused
 * by the pre-flight (422) instead of recovering somewhere else; the API refuses with 400 a name
 * Postgres could not have made or postgresql.conf could not hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { switchAndArchive } from '../helpers/ticks.js';
import { discardRestore, pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { until } from '../helpers/stack.js';

/** Each restore point is made right after the row with its id; the next row comes after it. */
const POINTS: [name: string, row: number][] = [
  [' qa-lead', 1001],
  ['qa-trail ', 1002],
  ['qa\\tb', 1003],
  ['qa-bs\\', 1004],
  ['qa-nl\n', 1005],
];

describe('point-in-time restore to restore points with awkward names', () => {
  let src: PitrSource;
  const restores = () => `/api/v1/clusters/${src.tc.name}/restores`;

  beforeAll(async () => {
    src = await pitrSource('rpname', { tickSeconds: 2 });
    for (const [name, row] of POINTS) {
      await src.db.query('insert into ticks values ($1, now())', [row]);
      await src.db.query('select pg_create_restore_point($1::text)', [name]);
    }
    await src.db.query('insert into ticks values (1006, now())');
    await switchAndArchive(src.db);
  }, 240_000);
  afterAll(async () => src?.close());

  it.each([
    ['qa-lead', 'only " qa-lead" exists'],
    ['qa-trail', 'only "qa-trail " exists'],
    ['qa-nl', 'only "qa-nl" with a line break exists'],
  ])('refuses the pre-flight for the non-existent %j (%s), naming it, and starts nothing', async (name) => {
    const res = await src.c.call('POST', restores(), { target: { name } });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.error.code).toBe('RESTORE_PREFLIGHT_FAILED');
    expect(res.body.error.message).toContain(`restore point "${name}" was not found in the archived WAL up to `);
    // Its run judged, refused and ended failed with that refusal: nothing did work.
    const runs = `WorkflowId STARTS_WITH "pitrRestore/${src.tc.name}/"`;
    await until(
      'the refused run to close',
      async () => (await src.c.temporal.workflow.count(`${runs} AND ExecutionStatus = 'Running'`)).count === 0,
      30_000,
    );
    expect(await src.c.temporal.workflow.count(`${runs} AND ExecutionStatus != 'Failed'`)).toMatchObject({ count: 0 });
    expect((await src.c.temporal.workflow.getHandle(res.body.error.workflowId).describe()).status.name).toBe('FAILED');
  });

  it.each(POINTS.filter(([name]) => !name.includes('\n')))('restores to %j and stops exactly there', async (name, row) => {
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { name } }, src.made);
    expect(report.target).toEqual({ name });
    expect(report.stop.state).toBe('paused');
    // Every row up to the point's own, none after it.
    const got = await src.pgs.sqlAt(report.destination.port, 'select count(*), max(id) from ticks where id > 1000');
    expect(got.trim()).toBe(`${row - 1000}|${row}`);
    await discardRestore(src.pgs, report.destination.dataDir);
  });

  it.each([
    ['a tab', 'qa\tb', '"qa\\tb"', 'it holds the control character U+0009 at offset 2'],
    ['a line break', 'qa-nl\n', '"qa-nl\\n"', 'it holds the control character U+000A at offset 5'],
    ['64 bytes', 'é'.repeat(32), `"${'é'.repeat(32)}"`, 'it is 64 bytes long, over the 63 Postgres allows'],
    ['nothing', '', '""', 'it is empty'],
  ])('answers 400 for a name with %s, naming the field, the value escaped and the expected form', async (_case, name, shown, why) => {
    const res = await src.c.call('POST', restores(), { target: { name } });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.fields).toEqual([
      {
        field: 'body.target.name',
        message: `expected a restore point name of 1-63 bytes (UTF-8) without control characters; leading and trailing spaces count, but ${why} (got ${shown})`,
      },
    ]);
  });
});
