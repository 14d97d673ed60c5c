import { describe, expect, it } from 'vitest';
import {
  judgeRestore,
  judgeStop,
  recoverySettings,
  type ArchiveFacts,
  type DestinationFacts,
  type JudgeInput,
  type RestorableBackup,
  type RestoreRequest,
} from '../../domain/restore.js';
import { freeDestination } from '../helpers/restoreFacts.js';

const backup = (id: string, timeline: number, stopTime: string, stopLsn: string, startSeg: string): RestorableBackup => ({
  id,
  method: 'basebackup',
  type: 'full',
  timeline,
  startLsn: stopLsn,
  stopLsn,
  startWalSegment: startSeg,
  stopTime,
  compression: 'zstd',
  bytes: 1,
  objects: [{ name: 'base.tar.zst', bytes: 1, sha256: 'x' }],
});
const b1 = backup('20261130T100000000Z-F', 1, '2026-11-30T10:00:05.000Z', '0/2000100', '000000010000000000000002');
const b2 = backup('20261130T120000000Z-F', 1, '2026-11-30T12:00:05.000Z', '0/6000100', '000000010000000000000006');
const destination: DestinationFacts = freeDestination;
const request = (over: Partial<RestoreRequest>): RestoreRequest => ({
  cluster: 'c1',
  target: { xid: '1000' },
  destination: { node: 'n1', dataDir: '/r/x', port: 55432 },
  action: 'pause',
  inclusive: true,
  replaceExisting: false,
  ...over,
});
const archive: ArchiveFacts = { timeline: 1, lastSegment: '00000001000000000000000A', missing: [], missingHistory: [] };
const judge = (over: Partial<JudgeInput>) =>
  judgeRestore({
    request: request({}),
    backups: [b1, b2],
    archive,
    lastCommit: { lsn: '0/A000200', time: '2026-11-30T13:00:00.123456Z' },
    restorePoint: null,
    destination,
    now: new Date('2026-11-30T15:00:00Z'),
    ...over,
  });
const search = { firstSegment: '000000010000000000000002', lastSegment: '00000001000000000000000A', complete: true };

describe('an xid target', () => {
  it('is placed by its commit record: the backup before it is chosen and the record kept for the stop check', () => {
    const xact = { lsn: '0/4000300', time: '2026-11-30T11:00:00.5Z', kind: 'commit' as const };
    const { plan, problems } = judge({ xact, xactSearch: search });
    expect(problems).toEqual([]);
    // The newest backup (0/6000100) is after the xid's commit: the older one is restored.
    expect(plan?.backup.id).toBe(b1.id);
    expect(plan?.settings).toEqual({ kind: 'xid', value: '1000', inclusive: true, action: 'pause', xact });
    expect(plan?.notes).toEqual([]);
    const lines = recoverySettings(plan!.settings, { restoreCommand: 'x', port: 1, keepArchiving: false, marker: 'm' });
    expect(lines).toContain("recovery_target_xid = '1000'");
    expect(lines).toContain('recovery_target_inclusive = on');
  });

  it('hands Postgres the 32-bit id of the 64-bit form', () => {
    const { plan } = judge({
      request: request({ target: { xid: `${2 ** 32 + 1000}` } }),
      xact: null,
      xactSearch: { ...search, complete: false },
    });
    expect(plan?.settings.value).toBe('1000');
  });

  it('is refused when every segment from the oldest backup on was read and it ended in none of them', () => {
    const { problems } = judge({ xact: null, xactSearch: search });
    expect(problems).toEqual([
      `xid 1000 has no commit or abort record in the archived WAL on timeline 1 from segment 000000010000000000000002 to 00000001000000000000000A; expected the xid of a transaction that ended after backup ${b2.id} was consistent (2026-11-30T12:00:05.000Z, lsn 0/6000100); recoverable range on timeline 1: 2026-11-30T10:00:05.000Z (lsn 0/2000100, backup ${b1.id}) to 2026-11-30T13:00:00.123456Z (lsn 0/A000200), restoring from backup ${b2.id}`,
    ]);
  });

  it('is planned with a note when the search was capped: the exact stop is checked after replay', () => {
    const { plan } = judge({ xact: null, xactSearch: { ...search, complete: false } });
    expect(plan?.settings).toEqual({ kind: 'xid', value: '1000', inclusive: true, action: 'pause' });
    expect(plan?.notes).toEqual([
      'xid 1000 was not found in the archived WAL read before replay (segments 000000010000000000000002 to 00000001000000000000000A), so it could not be placed in time: recovery stops at its commit or abort record, and that it did is checked after replay (pg_xact_status on the copy)',
    ]);
  });

  it('is refused when it ended after a WAL gap, naming the missing segment', () => {
    const xact = { lsn: '0/8000300', time: '2026-11-30T12:30:00Z', kind: 'commit' as const };
    const { problems } = judge({ xact, xactSearch: search, archive: { ...archive, missing: ['000000010000000000000007'] } });
    expect(problems[0]).toMatch(
      /^xid 1000 ended at lsn 0\/8000300 \(2026-11-30T12:30:00Z\), after a WAL gap \(WAL segment 000000010000000000000007 is missing/,
    );
  });

  it('refuses a special transaction id before anything else', () => {
    expect(judge({ request: request({ target: { xid: '2' } }) }).problems).toEqual([
      'target xid "2" cannot be used: expected a transaction id in decimal: the 32-bit form from 3 to 4294967295 (as pg_waldump and age() show it), or the 64-bit form with epoch (pg_current_xact_id(), txid_current()) whose low 32 bits are 3 or more; it is 2, a special transaction id',
    ]);
  });
});

describe('where an xid restore stopped', () => {
  const xact = { lsn: '0/4000300', time: '2026-11-30T11:00:00.5Z', kind: 'commit' as const };
  const s = (inclusive: boolean, placed = true) => ({
    kind: 'xid' as const,
    value: '1000',
    inclusive,
    action: 'pause' as const,
    ...(placed ? { xact } : {}),
  });
  const stop = (over: object) => ({ replayLsn: '0/4000330', lastCommitTime: xact.time, state: 'paused' as const, ...over });

  it('passes an inclusive stop at the transaction: committed in the copy, its commit the last replayed', () => {
    expect(judgeStop(s(true), stop({ xactStatus: 'committed' }), b1)).toBeNull();
  });
  it('fails an inclusive stop where the transaction did not end in the copy', () => {
    expect(judgeStop(s(true), stop({ xactStatus: 'in progress', lastCommitTime: '2026-11-30T10:59:00Z' }), b1)).toBe(
      'recovery stopped at lsn 0/4000330, last commit 2026-11-30T10:59:00Z: transaction 1000 is in progress in the copy, expected committed (its end replayed)',
    );
  });
  it('fails an inclusive stop that replayed later transactions', () => {
    expect(judgeStop(s(true), stop({ xactStatus: 'committed', lastCommitTime: '2026-11-30T11:00:00.500001Z' }), b1)).toBe(
      "recovery stopped at lsn 0/4000330, last commit 2026-11-30T11:00:00.500001Z: the last replayed transaction end is 2026-11-30T11:00:00.500001Z, expected transaction 1000's at 2026-11-30T11:00:00.5Z (lsn 0/4000300)",
    );
  });
  it('passes an exclusive stop just before the commit, and fails one that kept the transaction', () => {
    expect(
      judgeStop(s(false), stop({ replayLsn: '0/4000300', lastCommitTime: '2026-11-30T10:59:00Z', xactStatus: 'in progress' }), b1),
    ).toBeNull();
    expect(judgeStop(s(false), stop({ xactStatus: 'committed' }), b1)).toBe(
      'recovery stopped at lsn 0/4000330, last commit 2026-11-30T11:00:00.5Z: transaction 1000 is committed in the copy, expected it left out (inclusive: false)',
    );
  });
  it('judges an unplaced xid by its status alone', () => {
    expect(judgeStop(s(true, false), stop({ xactStatus: 'committed', lastCommitTime: '2026-11-30T12:00:00Z' }), b1)).toBeNull();
    expect(judgeStop(s(true, false), stop({ xactStatus: null }), b1)).toMatch(
      /transaction 1000 is unknown in the copy, expected committed or aborted/,
    );
  });
});

describe('a timeline asked for', () => {
  const t2 = backup('20261130T150000000Z-F', 2, '2026-11-30T14:50:00Z', '0/7000100', '000000020000000000000007');
  const onOld: ArchiveFacts = {
    timeline: 1,
    lastSegment: '000000010000000000000004',
    missing: [],
    missingHistory: [],
    newestTimeline: 2,
    requested: 1,
    children: [{ timeline: 2, parent: 1, switchLsn: '0/5000000' }],
  };
  const old = (target: RestoreRequest['target']) =>
    judge({
      request: request({ target, timeline: 1 }),
      backups: [b1],
      archive: onOld,
      lastCommit: { lsn: '0/4FFFF20', time: '2026-11-30T14:31:02Z' },
    });

  it('is followed exactly: recovery_target_timeline is that number, said in the plan', () => {
    const { plan } = old({ time: '2026-11-30T14:30:00Z' });
    expect(plan?.settings).toEqual({ kind: 'time', value: '2026-11-30T14:30:00Z', inclusive: true, action: 'pause', timeline: 1 });
    expect(plan?.timeline).toEqual({ number: 1, source: 'request', pinned: false, note: null, requested: 1 });
    expect(recoverySettings(plan!.settings, { restoreCommand: 'x', port: 1, keepArchiving: false, marker: 'm' })).toContain(
      "recovery_target_timeline = '1'",
    );
  });

  it('refuses a time past the switch on the old branch, naming the switch point', () => {
    expect(old({ time: '2026-11-30T14:35:00Z' }).problems).toEqual([
      `time 2026-11-30T14:35:00Z is after timeline 1 ended at 0/5000000 (last commit 2026-11-30T14:31:02Z, switch to timeline 2); expected a time on timeline 1 up to 2026-11-30T14:31:02Z; recoverable range on timeline 1: 2026-11-30T10:00:05.000Z (lsn 0/2000100, backup ${b1.id}) to 2026-11-30T14:31:02Z (lsn 0/4FFFF20), restoring from backup ${b1.id}`,
    ]);
  });

  it("keeps 'latest' as recovery_target_timeline when latest was asked for", () => {
    const { plan } = judge({
      request: request({ target: { time: '2026-11-30T14:30:00Z' }, timeline: 'latest' }),
      backups: [b1, t2],
      archive: { ...archive, timeline: 2, newestTimeline: 2, requested: 'latest', children: [] },
      lastCommit: { lsn: '0/9000100', time: '2026-11-30T14:59:00Z' },
    });
    expect(plan?.settings.timeline).toBeUndefined();
    expect(plan?.timeline).toMatchObject({ number: 2, source: 'request', requested: 'latest' });
  });

  it('refuses a timeline the archive does not hold before judging anything else', () => {
    const problem = 'timeline 7 is not in the cluster\'s archive; expected one of 1, 2, "current" or "latest"';
    expect(
      judge({ request: request({ timeline: 7 }), backups: [], archive: { ...archive, requested: 7, timelineProblem: problem } }).problems,
    ).toEqual([problem]);
  });
});
