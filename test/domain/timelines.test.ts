import { describe, expect, it } from 'vitest';
import {
  branchEnd,
  branchWindows,
  historyOf,
  childrenOf,
  fullXid,
  onBranch,
  resolveTimeline,
  segmentTimeline,
  timelineRequestProblem,
  xid32,
  xidProblem,
} from '../../domain/timelines.js';
import { timelineSpans } from '../../domain/wal.js';

describe('transaction ids as recovery targets', () => {
  it.each([
    ['3', null],
    [3, null],
    ['4294967295', null],
    [`${2 ** 32 + 1000}`, null],
    ['18446744073709551615', null],
  ])('takes %j', (v, want) => {
    expect(xidProblem(v)).toBe(want);
  });

  it.each([
    ['2', 'it is 2, a special transaction id'],
    [0, 'it is 0, a special transaction id'],
    [`${2 ** 32 + 1}`, 'its low 32 bits are 1, a special transaction id'],
    ['18446744073709551616', 'it is above 2^64 - 1'],
    ['12a', '3 or more'],
    ['-5', '3 or more'],
    [' 7', '3 or more'],
    [1.5, 'whose low 32 bits are 3 or more'],
    [2 ** 60, 'a number above 2^53 must be given as a string'],
  ])('refuses %j, naming the value and the expected form', (v, tail) => {
    const problem = xidProblem(v)!;
    expect(problem).toMatch(/^expected a transaction id in decimal: the 32-bit form from 3 to 4294967295/);
    expect(problem.endsWith(tail)).toBe(true);
  });

  it('hands Postgres the 32-bit id (recovery drops the epoch) and places a 32-bit id in the epoch of a copy', () => {
    expect(xid32('1000')).toBe(1000);
    expect(xid32(`${3 * 2 ** 32 + 77}`)).toBe(77);
    // Epoch 0: as is.
    expect(fullXid('740', 800n)).toBe(740n);
    // Epoch 2, the id below the copy's next one: epoch 2.
    expect(fullXid('740', 2n * 2n ** 32n + 800n)).toBe(2n * 2n ** 32n + 740n);
    // Epoch 2, the id above the low part of the next one: it belongs to epoch 1.
    expect(fullXid('900', 2n * 2n ** 32n + 800n)).toBe(2n ** 32n + 900n);
    // The 64-bit form is taken as given.
    expect(fullXid(`${2n * 2n ** 32n + 5n}`, 10n)).toBe(2n * 2n ** 32n + 5n);
  });
});

describe('a requested timeline', () => {
  it.each([[1], [4294967295], ['current'], ['latest']])('takes %j', (v) => expect(timelineRequestProblem(v)).toBeNull());
  it.each([[0], [-1], [1.5], ['2'], ['newest'], [null]])('refuses %j naming the expected form', (v) => {
    expect(timelineRequestProblem(v)).toBe(
      'expected a timeline number from 1 to 4294967295, "current" (the timeline of the backup restored) or "latest" (the newest timeline in the archive)',
    );
  });

  const branches = [
    { timeline: 2, parent: 1, switchLsn: '0/5000000' },
    { timeline: 3, parent: 1, switchLsn: '0/3000000' },
  ];
  it('resolves a number, current and latest, and refuses a timeline the archive does not hold', () => {
    const f = { newest: 3, branches, backupTimeline: 2 };
    expect(resolveTimeline(1, f)).toEqual({ timeline: 1 });
    expect(resolveTimeline('latest', f)).toEqual({ timeline: 3 });
    expect(resolveTimeline('current', f)).toEqual({ timeline: 2 });
    expect(resolveTimeline(7, f)).toEqual({
      problem: 'timeline 7 is not in the cluster\'s archive; expected one of 1, 2, 3, "current" or "latest"',
    });
  });

  it('keeps a backup on the branch only up to where the branch left its timeline', () => {
    const spans = timelineSpans(2, [{ timeline: 1, switchLsn: '0/5000000', reason: 'x' }]);
    expect(onBranch({ timeline: 1, stopLsn: '0/4000100' }, spans)).toBe(true);
    expect(onBranch({ timeline: 1, stopLsn: '0/5000000' }, spans)).toBe(true);
    // Taken on timeline 1 after timeline 2 branched off: it holds timeline 1's later changes.
    expect(onBranch({ timeline: 1, stopLsn: '0/6000100' }, spans)).toBe(false);
    expect(onBranch({ timeline: 2, stopLsn: '0/9000100' }, spans)).toBe(true);
    expect(onBranch({ timeline: 3, stopLsn: '0/1000100' }, spans)).toBe(false);
  });

  it('reads each segment on the timeline the branch holds it on: the successor holds the switch segment', () => {
    const spans = timelineSpans(2, [{ timeline: 1, switchLsn: '0/5000060', reason: 'x' }]);
    expect(segmentTimeline(spans, 4)).toBe(1);
    expect(segmentTimeline(spans, 5)).toBe(2);
    expect(segmentTimeline(spans, 9)).toBe(2);
  });

  it('names where a branch ends: the switch when its WAL ends there, else its newest commit and who branched off', () => {
    const kids = childrenOf(1, branches);
    expect(kids.map((k) => k.timeline)).toEqual([3, 2]);
    expect(branchEnd(1, childrenOf(1, [branches[0]!]), { lsn: '0/4FFFF20', time: '2026-11-30T14:31:02.000001Z' })).toBe(
      'timeline 1 ended at 0/5000000 (last commit 2026-11-30T14:31:02.000001Z, switch to timeline 2)',
    );
    expect(branchEnd(1, kids, { lsn: '0/7000100', time: '2026-11-30T14:40:00Z' })).toBe(
      "timeline 1's newest recoverable commit at 2026-11-30T14:40:00Z (lsn 0/7000100; branched off it: timeline 3 at 0/3000000, timeline 2 at 0/5000000)",
    );
  });
});

describe('every timeline in the archive, each along its own history', () => {
  const branches = [
    { timeline: 2, parent: 1, switchLsn: '0/5000060' },
    { timeline: 3, parent: 2, switchLsn: '0/8000060' },
  ];
  const backups = [
    { id: 'b1', timeline: 1, stopLsn: '0/2000100', stopTime: '2026-11-30T10:00:05Z' },
    { id: 'b1late', timeline: 1, stopLsn: '0/6000100', stopTime: '2026-11-30T12:00:05Z' },
    { id: 'b3', timeline: 3, stopLsn: '0/9000100', stopTime: '2026-11-30T14:00:05Z' },
  ];

  it('rebuilds a timeline history from each switch, oldest ancestor first', () => {
    expect(historyOf(3, branches).map((h) => [h.timeline, h.switchLsn])).toEqual([
      [1, '0/5000060'],
      [2, '0/8000060'],
    ]);
    expect(historyOf(1, branches)).toEqual([]);
  });

  it('lists each timeline with the oldest backup on its branch and where its archived WAL ends', () => {
    const w = branchWindows({
      current: 3,
      branches,
      newestSegments: { 1: '000000010000000000000007', 2: '000000020000000000000008', 3: '00000003000000000000000A' },
      backups,
      lastCommit: { lsn: '0/A000200', time: '2026-11-30T14:30:00Z' },
    });
    expect(w).toEqual([
      {
        timeline: 1,
        parent: null,
        switchLsn: null,
        current: false,
        earliest: { lsn: '0/2000100', time: '2026-11-30T10:00:05Z', backupId: 'b1' },
        // Timeline 1 kept writing after timeline 2 branched off: its own WAL reaches 0/8000000.
        latest: { lsn: '0/8000000', time: null },
      },
      {
        timeline: 2,
        parent: 1,
        switchLsn: '0/5000060',
        current: false,
        earliest: { lsn: '0/2000100', time: '2026-11-30T10:00:05Z', backupId: 'b1' },
        latest: { lsn: '0/9000000', time: null },
      },
      {
        timeline: 3,
        parent: 2,
        switchLsn: '0/8000060',
        current: true,
        earliest: { lsn: '0/2000100', time: '2026-11-30T10:00:05Z', backupId: 'b1' },
        latest: { lsn: '0/A000200', time: '2026-11-30T14:30:00Z' },
      },
    ]);
  });

  it('gives no range to a timeline no backup on its branch can reach', () => {
    const w = branchWindows({
      current: 2,
      branches: [{ timeline: 2, parent: 1, switchLsn: '0/5000060' }],
      newestSegments: { 1: '000000010000000000000007', 2: '000000020000000000000008' },
      // Taken on timeline 1 after timeline 2 branched off: not on timeline 2's branch.
      backups: [backups[1]!],
      lastCommit: { lsn: '0/8000200', time: '2026-11-30T14:30:00Z' },
    });
    expect(w.map((x) => [x.timeline, x.earliest?.backupId ?? null, x.latest?.lsn ?? null])).toEqual([
      [1, 'b1late', '0/8000000'],
      [2, null, null],
    ]);
  });
});
