import { describe, expect, it } from 'vitest';
import {
  judgeRestore,
  recoverySettings,
  type ArchiveFacts,
  type DestinationFacts,
  type RestorableBackup,
  type RestoreRequest,
} from '../../domain/restore.js';
import { freeDestination } from '../helpers/restoreFacts.js';

const backup: RestorableBackup = {
  id: '20261130T100000000Z-F',
  method: 'basebackup',
  type: 'full',
  timeline: 1,
  startLsn: '0/2000028',
  stopLsn: '0/2000100',
  startWalSegment: '000000010000000000000002',
  stopTime: '2026-11-30T10:00:05.000Z',
  compression: 'zstd',
  bytes: 1,
  objects: [{ name: 'base.tar.zst', bytes: 1, sha256: 'x' }],
};
const destination: DestinationFacts = freeDestination;
const request: RestoreRequest = {
  cluster: 'c1',
  target: { latest: true },
  destination: { node: 'n1', dataDir: '/r/x', port: 55432 },
  action: 'pause',
  inclusive: true,
  replaceExisting: false,
};
const judge = (archive: ArchiveFacts) =>
  judgeRestore({
    request,
    backups: [backup],
    archive,
    lastCommit: { lsn: '0/9000200', time: '2026-11-30T10:30:00Z' },
    restorePoint: null,
    destination,
    now: new Date('2026-11-30T11:00:00Z'),
  });
const base: ArchiveFacts = { timeline: 1, lastSegment: '000000010000000000000009', missing: [], missingHistory: [] };

describe('the timeline a restore follows', () => {
  it("pins recovery to the primary's timeline when the archive holds a newer, foreign one", () => {
    const { plan } = judge({
      ...base,
      newestTimeline: 2,
      source: 'primary',
      note: 'more than one primary: a (timeline 1), b (timeline 2); a is the one the standbys stream from',
    });
    expect(plan?.settings).toEqual({ kind: 'lsn', value: '0/9000200', inclusive: true, action: 'pause', timeline: 1 });
    expect(plan?.timeline).toEqual({
      number: 1,
      source: 'primary',
      pinned: true,
      note: 'more than one primary: a (timeline 1), b (timeline 2); a is the one the standbys stream from',
    });
    const lines = recoverySettings(plan!.settings, {
      restoreCommand: 'pgdr wal fetch %f %p',
      port: 55432,
      keepArchiving: false,
      marker: 'm',
    });
    expect(lines).toContain("recovery_target_timeline = '1'");
    expect(lines).not.toContain("recovery_target_timeline = 'latest'");
  });

  it('follows latest when the primary is on the newest timeline', () => {
    const { plan } = judge({ ...base, newestTimeline: 1, source: 'primary', note: null });
    expect(plan?.settings).toEqual({ kind: 'lsn', value: '0/9000200', inclusive: true, action: 'pause' });
    expect(plan?.timeline).toEqual({ number: 1, source: 'primary', pinned: false, note: null });
    expect(recoverySettings(plan!.settings, { restoreCommand: 'x', port: 1, keepArchiving: false, marker: 'm' })).toContain(
      "recovery_target_timeline = 'latest'",
    );
  });

  it('says so in the plan when no primary could be asked and the newest timeline is followed', () => {
    const note = 'following the newest timeline in the archive: no reachable primary: a: connect ECONNREFUSED 127.0.0.1:5432';
    expect(judge({ ...base, newestTimeline: 1, source: 'newest', note }).plan?.timeline).toEqual({
      number: 1,
      source: 'newest',
      pinned: false,
      note,
    });
  });
});
