import { describe, expect, it } from 'vitest';
import { parseHistory, segmentName } from '../../domain/wal.js';
import {
  currentPrimary,
  judgeForks,
  judgeWalArchive,
  timelineBranches,
  type ArchivedName,
  type PrimaryCandidate,
  type WalFacts,
} from '../../domain/walCheck.js';

/** Archived names with LastModified one second apart from `start`, in the given order. */
const archivedAt = (start: string, names: string[]): ArchivedName[] =>
  names.map((name, i) => ({ name, lastModified: new Date(Date.parse(start) + i * 1000).toISOString() }));
const seg = (tl: number, n: number) => segmentName(tl, n);
// Timeline 2 branched off timeline 1 at 0/5000060 (in segment 5).
const history2 = { 2: parseHistory('1\t0/5000060\tno recovery target specified\n') };

describe('the split-brain judge', () => {
  it('goes red naming both timelines, the switch point and the newest segments when the parent keeps archiving after a branch', () => {
    const archived = [
      ...archivedAt('2026-11-30T10:00:00Z', [seg(1, 3), seg(1, 4)]),
      ...archivedAt('2026-11-30T10:05:00Z', [
        '00000002.history',
        `${seg(1, 5)}.partial`,
        seg(2, 5),
        seg(1, 5),
        seg(2, 6),
        seg(1, 6),
        seg(1, 7),
      ]),
    ];
    const branches = timelineBranches(archived, history2);
    expect(branches).toEqual([
      {
        timeline: 2,
        parent: 1,
        switchLsn: '0/5000060',
        bornAt: '2026-11-30T10:05:00.000Z',
        newestSegment: seg(2, 6),
        newestAt: '2026-11-30T10:05:04.000Z',
        parentAfter: { count: 3, newest: seg(1, 7), newestAt: '2026-11-30T10:05:06.000Z' },
      },
    ]);
    const [problem, ...rest] = judgeForks(branches, 1);
    expect(rest).toEqual([]);
    expect(problem).toBe(
      'split brain: timelines 1 and 2 both advanced. timeline 2 branched off timeline 1 at 0/5000060 (its history file archived at 2026-11-30T10:05:00.000Z),' +
        ' yet 3 segment(s) of timeline 1 from that switch point on were archived after that, the newest 000000010000000000000007 at 2026-11-30T10:05:06.000Z;' +
        " timeline 2's newest is 000000020000000000000006 at 2026-11-30T10:05:04.000Z." +
        ' HINT: two primaries archive into this archive; the current primary is on timeline 1: stop the server on timeline 2, which is not the primary, and take a new full backup; restores follow timeline 1',
    );
    // Without a known primary the hint does not guess.
    expect(judgeForks(branches, null)[0]).toMatch(
      /HINT: two primaries archive into this archive; find the server clients write to, stop the other one, and take a new full backup$/,
    );
  });

  it('keeps a clean switchover healthy: the old primary archived nothing after the new timeline began', () => {
    const archived = [
      ...archivedAt('2026-11-30T10:00:00Z', [seg(1, 3), seg(1, 4), seg(1, 5)]),
      ...archivedAt('2026-11-30T10:01:00Z', ['00000002.history', `${seg(1, 5)}.partial`, seg(2, 5), seg(2, 6), seg(2, 7)]),
    ];
    const branches = timelineBranches(archived, history2);
    expect(branches[0]).toMatchObject({ timeline: 2, parent: 1, newestSegment: seg(2, 7), parentAfter: null });
    expect(judgeForks(branches, 2)).toEqual([]);
  });

  it('keeps a restore to an earlier point healthy: the abandoned segments of the parent are older than the branch', () => {
    // Timeline 2 branched at segment 5 while timeline 1 had already reached segment 9, then stopped.
    const archived = [
      ...archivedAt(
        '2026-11-30T10:00:00Z',
        [5, 6, 7, 8, 9].map((n) => seg(1, n)),
      ),
      ...archivedAt('2026-11-30T11:00:00Z', ['00000002.history', seg(2, 5), seg(2, 6)]),
    ];
    expect(judgeForks(timelineBranches(archived, history2), 2)).toEqual([]);
  });

  it('makes the WAL check unhealthy when the archive shows a fork, and not when its facts predate the branch list', () => {
    const base: WalFacts = {
      archiveMode: 'on',
      archiver: null,
      previousFailedCount: null,
      roundTrip: null,
      roundTripTimeoutSeconds: 60,
      continuity: null,
      currentLsn: null,
      segmentBytes: 16 * 1024 * 1024,
      maxLagSegments: 8,
      maxArchiveAgeMinutes: 30,
      now: new Date('2026-11-30T10:10:00Z'),
    };
    const forked = timelineBranches(archivedAt('2026-11-30T10:05:00Z', ['00000002.history', seg(2, 5), seg(1, 6)]), history2);
    const red = judgeWalArchive({ ...base, branches: forked, currentTimeline: 1 });
    expect(red.healthy).toBe(false);
    expect(red.problems).toHaveLength(1);
    expect(red.problems[0]).toMatch(
      /^split brain: timelines 1 and 2 both advanced\. .*the newest 000000010000000000000006 at .*HINT: .*current primary is on timeline 1: stop the server on timeline 2/,
    );
    expect(judgeWalArchive(base)).toMatchObject({ healthy: true, problems: [] });
  });
});

describe('the current primary', () => {
  const primary = (name: string, timeline: number, standbys: number): PrimaryCandidate => ({
    name,
    probe: { role: 'primary', timeline, replication: Array.from({ length: standbys }, () => ({ state: 'streaming' })) },
  });

  it('is the one read-write server, with no note', () => {
    expect(currentPrimary([primary('a', 3, 1), { name: 'b', probe: { role: 'standby', timeline: 3, replication: [] } }])).toEqual({
      name: 'a',
      timeline: 3,
      note: null,
    });
  });

  it('is the one the standbys stream from when a standby was promoted by hand, and says so', () => {
    expect(
      currentPrimary([primary('a', 1, 1), primary('b', 2, 0), { name: 'c', probe: { role: 'standby', timeline: 1, replication: [] } }]),
    ).toEqual({
      name: 'a',
      timeline: 1,
      note: 'more than one primary: a (timeline 1), b (timeline 2); a is the one the standbys stream from',
    });
  });

  it('is not guessed between two read-write servers no standby follows, nor without a reachable primary', () => {
    expect(currentPrimary([primary('a', 1, 0), primary('b', 2, 0)])).toEqual({
      name: null,
      problem: 'more than one primary: a (timeline 1), b (timeline 2), and no standby streams from exactly one of them',
    });
    expect(currentPrimary([{ name: 'a', error: 'connect ECONNREFUSED 127.0.0.1:5432' }])).toEqual({
      name: null,
      problem: 'no reachable primary: a: connect ECONNREFUSED 127.0.0.1:5432',
    });
  });
});
