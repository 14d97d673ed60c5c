import { describe, expect, it } from 'vitest';
import { commitCandidates, commitTime, parseRecordLine, recordLines, restorePointCandidates, sameRecord } from '../../domain/waldump.js';

// Lines as pg_waldump 15 printed them for restore points made with pg_create_restore_point
// (the names ' qa-lead', 'qa-trail ', 'qa\tb' with a backslash, 'qa-bs\', 'nl' + a line break,
// 'two' + a line break + 'lines', then 'qa-lead').
const rp = (lsn: string, prev: string, name: string) =>
  `rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: ${lsn}, prev ${prev}, desc: RESTORE_POINT ${name}`;
const commit = (lsn: string, prev: string, time: string, tail = '') =>
  `rmgr: Transaction len (rec/tot):     34/    34, tx:        725, lsn: ${lsn}, prev ${prev}, desc: COMMIT ${time} UTC${tail}`;
const OUTPUT = [
  commit('0/014F9EE0', '0/014F9E60', '2026-11-30 12:47:16.460073', '; inval msgs: catcache 21'),
  rp('0/01500790', '0/01500718', ' qa-lead'),
  rp('0/015007F8', '0/01500790', 'qa-trail '),
  rp('0/01500860', '0/015007F8', 'qa\\tb'),
  rp('0/015008C8', '0/01500860', 'qa-bs\\'),
  rp('0/01500930', '0/015008C8', 'nl'),
  '',
  rp('0/01500998', '0/01500930', 'two'),
  'lines',
  rp('0/01500A00', '0/01500998', 'qa-lead'),
  'rmgr: XLOG        len (rec/tot):     30/    30, tx:          0, lsn: 0/01500A68, prev 0/01500A00, desc: NEXTOID 24576',
  commit('0/01516A48', '0/01516A08', '2026-11-30 12:47:24.251753'),
].join('\n');

describe('pg_waldump output', () => {
  it("reads a restore point's name as the rest of its line, spaces and backslashes kept", () => {
    const records = recordLines(OUTPUT);
    expect(restorePointCandidates(records, ' qa-lead').map((r) => r.lsn)).toEqual(['0/01500790']);
    expect(restorePointCandidates(records, 'qa-lead').map((r) => r.lsn)).toEqual(['0/01500A00']);
    expect(restorePointCandidates(records, 'qa-trail ').map((r) => r.lsn)).toEqual(['0/015007F8']);
    expect(restorePointCandidates(records, 'qa-trail')).toEqual([]);
    expect(restorePointCandidates(records, 'qa\\tb').map((r) => r.lsn)).toEqual(['0/01500860']);
    expect(restorePointCandidates(records, 'qa-bs\\').map((r) => r.lsn)).toEqual(['0/015008C8']);
    expect(restorePointCandidates(records, 'QA-LEAD')).toEqual([]);
  });

  it('reads the newest commit with its microseconds', () => {
    const [newest] = commitCandidates(recordLines(OUTPUT));
    expect(newest!.lsn).toBe('0/01516A48');
    expect(commitTime(newest!)).toBe('2026-11-30T12:47:24.251753Z');
  });

  it('orders candidates by LSN, not by where a line sits', () => {
    // A forged copy of an old commit placed after a newer one must not come first.
    const out = `${commit('0/05000100', '0/05000000', '2026-11-30 13:00:00.5')}\n${commit('0/04000100', '0/04000000', '2026-11-30 12:00:00')}`;
    expect(commitCandidates(recordLines(out)).map((r) => r.lsn)).toEqual(['0/05000100', '0/04000100']);
  });

  it.each([
    ['a line with text before the record', `x ${rp('0/01500A00', '0/01500998', 'qa-lead')}`],
    ['a truncated line', rp('0/01500A00', '0/01500998', 'qa-lead').slice(0, 80)],
    ['a restore point of another size (a forged one)', rp('0/01500A00', '0/01500998', 'qa-lead').replace('98/    98', '99/    99')],
    ['a restore point of another rmgr', rp('0/01500A00', '0/01500998', 'qa-lead').replace('rmgr: XLOG       ', 'rmgr: Transaction')],
    ['an lsn without its padding', rp('0/1500A00', '0/01500998', 'qa-lead')],
    [
      'a desc without its space after the type',
      rp('0/01500A00', '0/01500998', 'qa-lead').replace('RESTORE_POINT qa-lead', 'RESTORE_POINTqa-lead'),
    ],
  ])('does not take %s for the restore point', (_case, line) => {
    expect(restorePointCandidates(recordLines(line), 'qa-lead')).toEqual([]);
  });

  it('takes a well-formed line only as a candidate: the record at its LSN must print exactly that line', () => {
    // A prepared transaction's GID (up to 200 bytes, printed raw) can hold a record-shaped line.
    const forged = rp('0/01500F00', '0/01500A00', 'qa-lead');
    const host = `rmgr: Transaction len (rec/tot):    250/   250, tx:        730, lsn: 0/01500E00, prev 0/01500D00, desc: PREPARE gid x\n${forged}: 2026-11-30 12:50:00 UTC`;
    const [candidate] = restorePointCandidates(recordLines(host), 'qa-lead: 2026-11-30 12:50:00 UTC');
    expect(candidate!.lsn).toBe('0/01500F00');
    // pg_waldump --start=0/01500F00 --limit=1 finds the next real record instead.
    expect(
      sameRecord(
        candidate!,
        'first record is after 0/1500F00, at 0/1500F40, skipping over 64 bytes\nrmgr: XLOG        len (rec/tot):     30/    30, tx:          0, lsn: 0/01500F40, prev 0/01500E00, desc: NEXTOID 24576',
      ),
    ).toBe(false);
    expect(sameRecord(candidate!, '')).toBe(false);
  });

  it('does not take the first line of a multi-line name for a name without the line break', () => {
    const records = recordLines(OUTPUT);
    const [nl] = restorePointCandidates(records, 'nl');
    const [two] = restorePointCandidates(records, 'two');
    // What the gateway returns for --start --limit=1 (final line break stripped): more than the line.
    expect(sameRecord(nl!, `${rp('0/01500930', '0/015008C8', 'nl')}\n`)).toBe(false);
    expect(sameRecord(two!, `${rp('0/01500998', '0/01500930', 'two')}\nlines`)).toBe(false);
    const [lead] = restorePointCandidates(records, 'qa-lead');
    expect(sameRecord(lead!, rp('0/01500A00', '0/01500998', 'qa-lead'))).toBe(true);
  });

  it('parses a record line into its fields', () => {
    expect(parseRecordLine(rp('0/01500A00', '0/01500998', 'qa-lead'))).toMatchObject({
      rmgr: 'XLOG',
      recLen: 98,
      totLen: 98,
      xid: 0,
      lsn: '0/01500A00',
      prev: '0/01500998',
      kind: 'RESTORE_POINT',
      desc: 'qa-lead',
    });
  });
});
