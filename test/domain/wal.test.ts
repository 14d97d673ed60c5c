import { describe, expect, it } from 'vitest';
import {
  assertWalFileName,
  checkContinuity,
  parseHistory,
  parseWalFileName,
  segmentName,
  segmentNumber,
  timelineSpans,
} from '../../domain/wal.js';
import { archiveLag, judgeWalArchive, recoveryWindow, type ContinuityReport, type WalFacts } from '../../domain/walCheck.js';

describe('WAL file names', () => {
  it('classifies what Postgres archives and refuses anything else', () => {
    expect(parseWalFileName('000000010000000000000003')).toMatchObject({ kind: 'segment', timeline: 1 });
    expect(parseWalFileName('000000020000000A000000FF.partial')).toMatchObject({ kind: 'partial', timeline: 2 });
    expect(parseWalFileName('0000000A.history')).toMatchObject({ kind: 'history', timeline: 10 });
    expect(parseWalFileName('000000010000000000000003.00000028.backup')).toMatchObject({ kind: 'backup', timeline: 1 });
    for (const bad of ['../etc/passwd', '00000001000000000000000', '000000010000000000000003.zst', 'RECOVERYHISTORY', '']) {
      expect(parseWalFileName(bad)).toBeUndefined();
      expect(() => assertWalFileName(bad)).toThrow(/invalid WAL file name/);
    }
  });

  it('numbers segments across log ids', () => {
    expect(segmentNumber('0000000100000001000000FF')).toBe(511);
    expect(segmentName(1, 512)).toBe('000000010000000200000000');
    expect(segmentName(3, segmentNumber('000000010000001A000000FE'))).toBe('000000030000001A000000FE');
    // 64 MiB segments: 64 per log id.
    expect(segmentName(1, 64, 64 * 1024 * 1024)).toBe('000000010000000100000000');
  });
});

describe('continuity', () => {
  const present = (names: string[]) => new Set(names);
  const seq = (tl: number, from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => segmentName(tl, from + i));

  it('names exactly the missing segment', () => {
    const names = seq(1, 3, 12).filter((n) => n !== segmentName(1, 7));
    const r = checkContinuity({
      fromTimeline: 1,
      fromSegment: segmentName(1, 3),
      currentTimeline: 1,
      history: [],
      lastSegment: segmentName(1, 12),
      present: present(names),
    });
    expect(r).toMatchObject({
      expectedCount: 10,
      missingCount: 1,
      missing: ['000000010000000000000007'],
      missingHistory: [],
      offChain: false,
    });
  });

  it('follows a timeline switch: the old timeline up to the switch segment, the new one from it, and its history file', () => {
    // Promotion at 0/7000100: timeline 1 supplies 3..6, timeline 2 supplies 7.. (segment 7 on tl 1 is only a .partial).
    const history = parseHistory('1\t0/7000100\tno recovery target specified\n');
    expect(history).toEqual([{ timeline: 1, switchLsn: '0/7000100', reason: 'no recovery target specified' }]);
    expect(timelineSpans(2, history)).toEqual([
      { timeline: 1, beginLsn: '0/0', endLsn: '0/7000100' },
      { timeline: 2, beginLsn: '0/7000100', endLsn: null },
    ]);
    const names = [...seq(1, 3, 6), '000000010000000000000007.partial', ...seq(2, 7, 9), '00000002.history'];
    const ok = checkContinuity({
      fromTimeline: 1,
      fromSegment: segmentName(1, 3),
      currentTimeline: 2,
      history,
      lastSegment: segmentName(2, 9),
      present: present(names),
    });
    expect(ok).toMatchObject({ expectedCount: 7, missingCount: 0, missingHistory: [] });
    const noHistory = checkContinuity({
      fromTimeline: 1,
      fromSegment: segmentName(1, 3),
      currentTimeline: 2,
      history,
      lastSegment: segmentName(2, 9),
      present: present(names.filter((n) => !n.endsWith('.history'))),
    });
    expect(noHistory.missingHistory).toEqual(['00000002.history']);
    const offChain = checkContinuity({
      fromTimeline: 3,
      fromSegment: segmentName(3, 3),
      currentTimeline: 2,
      history,
      lastSegment: segmentName(2, 9),
      present: present(names),
    });
    expect(offChain.offChain).toBe(true);
  });
});

describe('judging the archive', () => {
  const continuity = (over: Partial<ContinuityReport> = {}): ContinuityReport => ({
    fromBackup: '20261120T000000000Z-F',
    fromTimeline: 1,
    fromSegment: '000000010000000000000003',
    lastSegment: '000000010000000000000009',
    expected: 7,
    missingCount: 0,
    missing: [],
    missingHistory: [],
    offChain: false,
    archivedObjects: 7,
    ...over,
  });
  const now = new Date('2026-11-20T12:00:00Z');
  const facts = (over: Partial<WalFacts> = {}): WalFacts => ({
    archiveMode: 'on',
    archiver: {
      archivedCount: 9,
      lastArchivedWal: '000000010000000000000009',
      lastArchivedAt: '2026-11-20T11:59:50Z',
      failedCount: 0,
      lastFailedWal: null,
      lastFailedAt: null,
    },
    previousFailedCount: 0,
    roundTrip: { segment: '000000010000000000000009', ok: true, seconds: 0.4 },
    roundTripTimeoutSeconds: 60,
    continuity: continuity(),
    currentLsn: '0/A000100',
    segmentBytes: 16 * 1024 * 1024,
    maxLagSegments: 2,
    maxArchiveAgeMinutes: 30,
    now,
    ...over,
  });

  it('is healthy when everything is archived, and measures the lag', () => {
    const v = judgeWalArchive(facts());
    expect(v.problems).toEqual([]);
    expect(v.healthy).toBe(true);
    expect(v.lag).toEqual({ bytes: 0x100, segments: 0, seconds: 10 });
  });

  it('names the failing segment while archiving fails, and warns once it recovered', () => {
    const failingArchiver = () => ({
      archivedCount: 9,
      lastArchivedWal: '000000010000000000000009',
      lastArchivedAt: '2026-11-20T11:50:00Z',
      failedCount: 4,
      lastFailedWal: '00000001000000000000000A',
      lastFailedAt: '2026-11-20T11:59:00Z',
    });
    const failing = judgeWalArchive(facts({ archiver: failingArchiver() }));
    expect(failing.healthy).toBe(false);
    expect(failing.problems.join()).toMatch(/archiving is failing: segment 00000001000000000000000A failed/);
    // The round trip's segment, in S3 but not reported by the failing archiver, is the same problem: named once.
    const alsoUnreported = judgeWalArchive(
      facts({
        archiver: failingArchiver(),
        roundTrip: { segment: '00000001000000000000000A', ok: true, seconds: 0.1, archiverSeconds: null },
      }),
    );
    expect(alsoUnreported.problems).toEqual([failing.problems[0]]);
    const recovered = judgeWalArchive(
      facts({
        archiver: {
          archivedCount: 10,
          lastArchivedWal: '00000001000000000000000A',
          lastArchivedAt: '2026-11-20T11:59:30Z',
          failedCount: 4,
          lastFailedWal: '00000001000000000000000A',
          lastFailedAt: '2026-11-20T11:59:00Z',
        },
        currentLsn: '0/B000000',
      }),
    );
    expect(recovered.healthy).toBe(true);
    expect(recovered.warnings.join()).toMatch(/4 archive attempt\(s\) failed since the previous check/);
  });

  it('reports a gap, a failed round trip and too much lag as problems', () => {
    expect(
      judgeWalArchive(facts({ continuity: continuity({ missingCount: 1, missing: ['000000010000000000000005'] }) })).problems.join(),
    ).toMatch(/the first missing is 000000010000000000000005/);
    expect(judgeWalArchive(facts({ roundTrip: { segment: '000000010000000000000009', ok: false, seconds: 60 } })).problems.join()).toMatch(
      /did not reach the archive within 60 s/,
    );
    // In S3 (the agent pushed it) but never reported by Postgres's archiver: stuck archive_command.
    const unreported = judgeWalArchive(
      facts({ roundTrip: { segment: '000000010000000000000009', ok: true, seconds: 0.1, archiverSeconds: null } }),
    );
    expect(unreported.healthy).toBe(false);
    expect(unreported.problems.join()).toMatch(
      /000000010000000000000009 is in the archive, but the primary's archiver had not reported it within 60 s/,
    );
    expect(
      judgeWalArchive(facts({ roundTrip: { segment: '000000010000000000000009', ok: true, seconds: 0.1, archiverSeconds: 0.3 } })).healthy,
    ).toBe(true);
    // Not in time, but reporting newer segments meanwhile: behind, not stuck (a warning).
    const behind = judgeWalArchive(
      facts({
        roundTrip: { segment: '000000010000000000000009', ok: true, seconds: 0.1, archiverSeconds: null, archiverProgressing: true },
      }),
    );
    expect(behind.problems).toEqual([]);
    expect(behind.warnings.join()).toMatch(
      /000000010000000000000009 is in the archive, but the primary's archiver had reported only up to .*behind, still archiving/,
    );
    const lagging = judgeWalArchive(facts({ currentLsn: '0/D000000' }));
    expect(lagging.lag?.segments).toBe(3);
    expect(lagging.problems.join()).toMatch(/archive lag is 3 segment/);
    expect(judgeWalArchive(facts({ archiveMode: 'off' })).problems.join()).toMatch(/archive_mode is off/);
  });

  it('does not count a .backup or .history file as the last segment', () => {
    const lag = archiveLag({
      ...facts(),
      continuity: null,
      archiver: { ...facts().archiver!, lastArchivedWal: '000000010000000000000009.00000028.backup' },
    });
    expect(lag?.segments).toBe(0);
  });
});

describe('recoverable window', () => {
  const backups = [
    {
      id: '20261120T000000000Z-F',
      timeline: 1,
      startWalSegment: '000000010000000000000003',
      stopLsn: '0/3000100',
      stopTime: '2026-11-20T00:00:05.000Z',
    },
  ];
  it("runs from the first backup's stop to the last archived commit, per timeline", () => {
    const w = recoveryWindow({
      timeline: 2,
      history: parseHistory('1\t0/7000100\tpromoted'),
      backups,
      lastCommit: { lsn: '0/9000200', time: '2026-11-20T01:00:00.000Z' },
      lastSegment: '000000020000000000000009',
      missing: [],
      segmentBytes: 16 * 1024 * 1024,
    });
    expect(w).toEqual([
      {
        timeline: 1,
        earliest: { lsn: '0/3000100', time: '2026-11-20T00:00:05.000Z', backupId: backups[0]!.id },
        latest: { lsn: '0/7000100', time: null },
      },
      {
        timeline: 2,
        earliest: { lsn: '0/7000100', time: null, backupId: backups[0]!.id },
        latest: { lsn: '0/9000200', time: '2026-11-20T01:00:00.000Z' },
      },
    ]);
  });
  it('ends at a missing segment', () => {
    const w = recoveryWindow({
      timeline: 1,
      history: [],
      backups,
      lastCommit: { lsn: '0/9000200', time: '2026-11-20T01:00:00.000Z' },
      lastSegment: '000000010000000000000009',
      missing: ['000000010000000000000005'],
      segmentBytes: 16 * 1024 * 1024,
    });
    expect(w[0]!.latest).toEqual({ lsn: '0/5000000', time: null });
  });
  it("starts at the oldest backup whose WAL reaches the archive's end, not at one a gap leaves short", () => {
    const later = {
      id: '20261120T003000000Z-F',
      timeline: 1,
      startWalSegment: '000000010000000000000007',
      stopLsn: '0/7000200',
      stopTime: '2026-11-20T00:30:05.000Z',
    };
    const w = recoveryWindow({
      timeline: 1,
      history: [],
      backups: [...backups, later],
      lastCommit: { lsn: '0/9000200', time: '2026-11-20T01:00:00.000Z' },
      lastSegment: '000000010000000000000009',
      missing: ['000000010000000000000005'],
      segmentBytes: 16 * 1024 * 1024,
    });
    expect(w).toEqual([
      {
        timeline: 1,
        earliest: { lsn: '0/7000200', time: '2026-11-20T00:30:05.000Z', backupId: later.id },
        latest: { lsn: '0/9000200', time: '2026-11-20T01:00:00.000Z' },
      },
    ]);
  });
  it('is empty-ended without a backup', () => {
    const w = recoveryWindow({
      timeline: 1,
      history: [],
      backups: [],
      lastCommit: null,
      lastSegment: '000000010000000000000009',
      missing: [],
      segmentBytes: 16 * 1024 * 1024,
    });
    expect(w).toEqual([{ timeline: 1, earliest: null, latest: null }]);
  });
});
