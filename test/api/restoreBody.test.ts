/** The restore request body: xid and timeline fields, each refusal naming the field, the value and the expected form. Needs no stack. */
import { describe, expect, it } from 'vitest';
import { restoreBody } from '../../api/routes/restores.js';

const issues = (body: unknown) => {
  const r = restoreBody.safeParse(body);
  return r.success ? [] : r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
};

describe('the restore body', () => {
  it('takes an xid as a decimal string or a safe JSON number, and keeps it as a string', () => {
    expect(restoreBody.parse({ target: { xid: '4294968296' } }).target).toEqual({ xid: '4294968296' });
    expect(restoreBody.parse({ target: { xid: 740 }, inclusive: false }).target).toEqual({ xid: '740' });
  });

  it('refuses a special or malformed xid naming the value', () => {
    expect(issues({ target: { xid: '1' } })).toEqual([
      {
        path: 'target.xid',
        message:
          'expected a transaction id in decimal: the 32-bit form from 3 to 4294967295 (as pg_waldump and age() show it), or the 64-bit form with epoch (pg_current_xact_id(), txid_current()) whose low 32 bits are 3 or more; it is 1, a special transaction id',
      },
    ]);
    expect(issues({ target: { xid: '0x10' } })[0]?.message).toMatch(/whose low 32 bits are 3 or more$/);
  });

  it('refuses two targets at once, an xid among them', () => {
    expect(issues({ target: { xid: '740', lsn: '0/3000060' } })).toEqual([
      { path: 'target', message: 'expected exactly one of time, lsn, name, xid, latest, immediate' },
    ]);
  });

  it.each([[1], [7], ['current'], ['latest']])('takes timeline %j', (timeline) => {
    expect(restoreBody.parse({ target: { time: '2026-11-30T14:30:00Z' }, timeline }).timeline).toBe(timeline);
  });

  it.each([[0], ['2'], ['newest'], [2.5]])('refuses timeline %j naming the expected form', (timeline) => {
    expect(issues({ target: { time: '2026-11-30T14:30:00Z' }, timeline })).toEqual([
      {
        path: 'timeline',
        message: `expected a timeline number from 1 to 4294967295, "current" (the timeline of the backup restored) or "latest" (the newest timeline in the archive)`,
      },
    ]);
  });

  it('refuses a timeline with an immediate target', () => {
    expect(issues({ target: { immediate: true }, timeline: 2 })).toEqual([
      {
        path: 'timeline',
        message:
          'timeline does not apply to an immediate target (it stops where the backup is consistent); expected no timeline with immediate',
      },
    ]);
  });
});
