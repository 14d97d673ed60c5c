import { describe, expect, it } from 'vitest';
import {
  chooseBackup,
  isRfc3339,
  judgeRestore,
  judgeStop,
  pgTimestamp,
  recoverySettings,
  windowBackups,
  type DestinationFacts,
  type RestorableBackup,
  type RestoreRequest,
} from '../../domain/restore.js';
import { recoveryWindow } from '../../domain/walCheck.js';
import { freeDestination } from '../helpers/restoreFacts.js';

const backup = (id: string, stopTime: string, stopLsn: string, startSeg: string): RestorableBackup => ({
  id,
  method: 'basebackup',
  type: 'full',
  timeline: 1,
  startLsn: stopLsn,
  stopLsn,
  startWalSegment: startSeg,
  stopTime,
  compression: 'zstd',
  bytes: 1,
  objects: [{ name: 'base.tar.zst', bytes: 1, sha256: 'x' }],
});

const b1 = backup('20261120T100000000Z-F', '2026-11-20T10:00:05.000Z', '0/2000100', '000000010000000000000002');
const b2 = backup('20261120T120000000Z-F', '2026-11-20T12:00:05.000Z', '0/6000100', '000000010000000000000006');
const freeDest: DestinationFacts = freeDestination;
const request = (over: Partial<RestoreRequest> = {}): RestoreRequest => ({
  cluster: 'c1',
  target: { time: '2026-11-20T12:30:00.000001Z' },
  destination: { node: 'n1', dataDir: '/r/x', port: 55432 },
  action: 'pause',
  inclusive: true,
  replaceExisting: false,
  ...over,
});
const facts = (over: Partial<Parameters<typeof judgeRestore>[0]> = {}) => ({
  request: request(),
  backups: [b1, b2],
  archive: { timeline: 1, lastSegment: '00000001000000000000000A', missing: [], missingHistory: [] },
  lastCommit: { lsn: '0/A000200', time: '2026-11-20T13:00:00.123456Z' },
  restorePoint: null,
  destination: freeDest,
  now: new Date('2026-11-20T14:00:00Z'),
  ...over,
});

describe('restore pre-flight', () => {
  it('picks the newest backup that stopped before a time target', () => {
    expect(chooseBackup({ time: '2026-11-20T12:30:00Z' }, [b1, b2])).toEqual({ backup: b2 });
    expect(chooseBackup({ time: '2026-11-20T11:00:00Z' }, [b1, b2])).toEqual({ backup: b1 });
    expect(chooseBackup({ lsn: '0/5000000' }, [b1, b2])).toEqual({ backup: b1 });
  });

  it('plans a time target inside the window with the target as Postgres takes it', () => {
    const r = judgeRestore(facts());
    expect(r.problems).toEqual([]);
    expect(r.plan).toMatchObject({
      backup: { id: b2.id },
      settings: { kind: 'time', value: '2026-11-20T12:30:00.000001Z', inclusive: true, action: 'pause' },
      replacing: false,
    });
  });

  it('refuses a time before the first backup, naming the earliest point and the range', () => {
    const r = judgeRestore(facts({ request: request({ target: { time: '2026-11-20T09:00:00+01:00' } }) }));
    expect(r.plan).toBeNull();
    expect(r.problems[0]).toBe(
      'target time 2026-11-20T09:00:00+01:00 is before the earliest recoverable point, the stop of backup 20261120T100000000Z-F at 2026-11-20T10:00:05.000Z (lsn 0/2000100); recoverable range on timeline 1: 2026-11-20T10:00:05.000Z (lsn 0/2000100, backup 20261120T100000000Z-F) to 2026-11-20T13:00:00.123456Z (lsn 0/A000200)',
    );
  });

  it('refuses a time in the future and a time after the last archived commit', () => {
    expect(judgeRestore(facts({ request: request({ target: { time: '2026-11-20T15:00:00Z' } }) })).problems).toEqual([
      'target time 2026-11-20T15:00:00Z is in the future (now 2026-11-20T14:00:00.000Z)',
    ]);
    // Equal to the last commit: inclusive needs a later commit to know where to stop.
    const p = judgeRestore(facts({ request: request({ target: { time: '2026-11-20T13:00:00.123456Z' } }) })).problems;
    expect(p[0]).toMatch(
      /^target time 2026-11-20T13:00:00.123456Z is after the newest recoverable commit at 2026-11-20T13:00:00.123456Z \(lsn 0\/A000200\); recoverable range/,
    );
    expect(
      judgeRestore(facts({ request: request({ target: { time: '2026-11-20T13:00:00.123456Z' }, inclusive: false }) })).problems,
    ).toEqual([]);
  });

  it('names the missing segment when a gap cuts the window', () => {
    const r = judgeRestore(
      facts({
        archive: { timeline: 1, lastSegment: '00000001000000000000000A', missing: ['000000010000000000000008'], missingHistory: [] },
        lastCommit: { lsn: '0/7000050', time: '2026-11-20T12:20:00Z' },
      }),
    );
    expect(r.problems[0]).toContain(
      '(WAL segment 000000010000000000000008 is missing from the archive, so nothing after it is recoverable)',
    );
    // A gap before the chosen backup's start does not matter.
    const ok = judgeRestore(
      facts({
        archive: { timeline: 1, lastSegment: '00000001000000000000000A', missing: ['000000010000000000000003'], missingHistory: [] },
      }),
    );
    expect(ok.problems).toEqual([]);
  });

  it("gives the range from the oldest backup whose WAL reaches the archive's end, as the recovery window advertises it", () => {
    // Segment 4 is missing: b1 (from segment 2) stops short at it, b2 (from segment 6) reaches the end.
    const archive = { timeline: 1, lastSegment: '00000001000000000000000A', missing: ['000000010000000000000004'], missingHistory: [] };
    const early = judgeRestore(facts({ archive, request: request({ target: { time: '2026-11-20T09:00:00Z' } }) }));
    expect(early.problems).toEqual([
      'target time 2026-11-20T09:00:00Z is before the earliest recoverable point, the stop of backup 20261120T120000000Z-F at 2026-11-20T12:00:05.000Z (lsn 0/6000100); recoverable range on timeline 1: 2026-11-20T12:00:05.000Z (lsn 0/6000100, backup 20261120T120000000Z-F) to 2026-11-20T13:00:00.123456Z (lsn 0/A000200)',
    ]);
    const late = judgeRestore(facts({ archive, request: request({ target: { time: '2026-11-20T13:30:00Z' } }) }));
    expect(late.problems[0]).toMatch(
      /; recoverable range on timeline 1: 2026-11-20T12:00:05.000Z \(lsn 0\/6000100, backup 20261120T120000000Z-F\) to /,
    );
    // The window the API and the metric advertise starts at the same point.
    const window = recoveryWindow({
      timeline: 1,
      history: [],
      backups: [b1, b2],
      lastCommit: { lsn: '0/A000200', time: '2026-11-20T13:00:00.123456Z' },
      lastSegment: archive.lastSegment,
      missing: archive.missing,
      segmentBytes: 16 * 1024 * 1024,
    });
    expect(window[0]!.earliest).toEqual({ lsn: b2.stopLsn, time: b2.stopTime, backupId: b2.id });
    expect(windowBackups([b1, b2], archive.missing).map((b) => b.id)).toEqual([b2.id]);
    expect(windowBackups([b1, b2], []).map((b) => b.id)).toEqual([b1.id, b2.id]);
  });

  it('refuses an lsn at or after a gap, and one past the last commit', () => {
    const gap = { timeline: 1, lastSegment: '00000001000000000000000A', missing: ['000000010000000000000008'], missingHistory: [] };
    expect(judgeRestore(facts({ archive: gap, request: request({ target: { lsn: '0/8000010' } }) })).problems[0]).toMatch(
      /^target lsn 0\/8000010 lies at or after a WAL gap/,
    );
    expect(judgeRestore(facts({ request: request({ target: { lsn: '0/B000000' } }) })).problems[0]).toMatch(
      /^target lsn 0\/B000000 is after the newest recoverable commit at lsn 0\/A000200/,
    );
    expect(judgeRestore(facts({ request: request({ target: { lsn: '0/7000000' } }) })).plan?.backup.id).toBe(b2.id);
  });

  it('pins latest to the newest archived commit', () => {
    expect(judgeRestore(facts({ request: request({ target: { latest: true } }) })).plan?.settings).toEqual({
      kind: 'lsn',
      value: '0/A000200',
      inclusive: true,
      action: 'pause',
    });
    // An idle cluster: nothing committed after the backup's end, so its consistency point is the latest.
    for (const lastCommit of [null, { lsn: '0/5000000', time: '2026-11-20T11:00:00Z' }]) {
      expect(judgeRestore(facts({ lastCommit, request: request({ target: { latest: true } }) })).plan?.settings).toEqual({
        kind: 'immediate',
        value: null,
        inclusive: true,
        action: 'pause',
      });
    }
  });

  it('refuses occupied destinations unless replaceExisting is confirmed, and a busy port', () => {
    const files: DestinationFacts = {
      ...freeDest,
      state: 'pgData',
      running: true,
      portFree: false,
      withinRoots: false,
      liveOverlaps: [{ cluster: 'c1', node: 'n1', kind: 'data', path: '/r/x', relation: 'is' }],
    };
    const refused = judgeRestore(facts({ destination: files })).problems;
    expect(refused).toEqual([
      expect.stringContaining(
        'destination n1:/r/x is not empty (it holds a Postgres data directory); expected an empty or absent directory, or replaceExisting: true with confirm: "c1"',
      ),
      'destination n1:/r/x belongs to a running server; expected a stopped one, or replaceExisting: true with confirm: "c1"',
      'destination n1:/r/x is the data directory of node "n1" of the cluster; expected another directory, or replaceExisting: true with confirm: "c1"',
      'port 55432 on node n1 is in use; expected a free port',
    ]);
    expect(judgeRestore(facts({ destination: files, request: request({ replaceExisting: true, confirm: 'other' }) })).problems[0]).toBe(
      'replaceExisting needs confirm "c1" (got "other")',
    );
    const ok = judgeRestore(facts({ destination: files, request: request({ replaceExisting: true, confirm: 'c1' }) }));
    expect(ok.problems).toEqual([]);
    expect(ok.plan).toMatchObject({ replacing: true, stopFirst: true });
  });

  it('says there is no free port in the range when the destination node could claim none (port -1)', () => {
    const full: DestinationFacts = { ...freeDest, port: -1, portFree: false };
    expect(judgeRestore(facts({ destination: full })).problems).toEqual([
      'no free port on node n1 in restore.portFrom..portTo; expected a port no server, node or other restore holds',
    ]);
  });

  it("refuses another node's directories by their canonical spelling, and anything inside or around them, even with confirm", () => {
    const confirmed = request({ replaceExisting: true, confirm: 'c1' });
    const viaLink: DestinationFacts = {
      ...freeDest,
      dataDir: '/r/link',
      canonicalDir: '/pg/replica',
      state: 'pgData',
      running: true,
      portFree: false,
      withinRoots: false,
      liveOverlaps: [{ cluster: 'c1', node: 'replica', kind: 'data', path: '/pg/replica', relation: 'is' }],
    };
    expect(judgeRestore(facts({ destination: viaLink, request: confirmed })).problems).toEqual([
      "destination n1:/r/link is node replica's data directory /pg/replica (it resolves to /pg/replica); expected a directory apart from every configured node's data, WAL and tablespace directories",
    ]);
    const nested: DestinationFacts = {
      ...freeDest,
      dataDir: '/pg/primary/nested',
      canonicalDir: '/pg/primary/nested',
      withinRoots: false,
      liveOverlaps: [{ cluster: 'c1', node: 'n1', kind: 'data', path: '/pg/primary', relation: 'inside' }],
    };
    expect(judgeRestore(facts({ destination: nested })).problems).toEqual([
      "destination n1:/pg/primary/nested lies inside node n1's data directory /pg/primary; expected a directory apart from every configured node's data, WAL and tablespace directories",
    ]);
    const around: DestinationFacts = {
      ...freeDest,
      dataDir: '/pg',
      canonicalDir: '/pg',
      state: 'files',
      withinRoots: false,
      liveOverlaps: [{ cluster: 'c1', node: 'n1', kind: 'tablespace', path: '/pg/ts1', relation: 'contains' }],
    };
    expect(judgeRestore(facts({ destination: around, request: confirmed })).problems).toContain(
      "destination n1:/pg contains node n1's tablespace directory /pg/ts1; expected a directory apart from every configured node's data, WAL and tablespace directories",
    );
  });

  it('refuses an in-place restore of a standby, whatever the confirmation', () => {
    const standby: DestinationFacts = {
      ...freeDest,
      state: 'pgData',
      running: true,
      portFree: false,
      standby: true,
      withinRoots: false,
      liveOverlaps: [{ cluster: 'c1', node: 'n1', kind: 'data', path: '/r/x', relation: 'is' }],
    };
    expect(judgeRestore(facts({ destination: standby, request: request({ replaceExisting: true, confirm: 'c1' }) })).problems).toEqual([
      "destination n1:/r/x is node n1's data directory and node n1 is a standby (standby.signal): restoring it in place would make a second primary that forks the cluster's archive; expected a replica rebuild (POST /api/v1/clusters/c1/nodes/n1/rebuild) or another destination",
    ]);
  });

  it("restores in place only the cluster's primary: a wiped or stopped other node is refused while another node is the primary", () => {
    const wiped: DestinationFacts = {
      ...freeDest,
      state: 'empty',
      withinRoots: false,
      liveOverlaps: [{ cluster: 'c1', node: 'n1', kind: 'data', path: '/r/x', relation: 'is' }],
    };
    const confirmed = request({ replaceExisting: true, confirm: 'c1' });
    expect(judgeRestore({ ...facts({ destination: wiped, request: confirmed }), currentPrimary: 'n2' }).problems).toEqual([
      "destination n1:/r/x is node n1's data directory, but the cluster's primary is node n2: restoring n1 in place would make a second primary that forks the cluster's archive; expected a replica rebuild (POST /api/v1/clusters/c1/nodes/n1/rebuild) or another destination",
    ]);
    // The primary itself, or no primary answering at all (the disaster case): in place, archiving.
    for (const currentPrimary of ['n1', null]) {
      expect(judgeRestore({ ...facts({ destination: wiped, request: confirmed }), currentPrimary }).plan).toMatchObject({ inPlace: true });
    }
  });

  it('refuses destinations outside the restore roots, and never replaces a directory that is not a Postgres data directory', () => {
    const outside: DestinationFacts = { ...freeDest, dataDir: '/etc/pgdr-x', canonicalDir: '/etc/pgdr-x', withinRoots: false };
    expect(judgeRestore(facts({ destination: outside })).problems).toEqual([
      "destination n1:/etc/pgdr-x is outside pgdr's restore roots /r; expected a directory inside one of them (restore.dir, restore.allowedRoots) or a node's own data directory",
    ]);
    const files: DestinationFacts = { ...freeDest, state: 'files' };
    expect(judgeRestore(facts({ destination: files, request: request({ replaceExisting: true, confirm: 'c1' }) })).problems).toEqual([
      'destination n1:/r/x holds files but no Postgres data directory (no PG_VERSION); pgdr only ever replaces a Postgres data directory, expected an empty or absent directory',
    ]);
  });
});

describe('recovery settings and the stop check', () => {
  it('writes the target, the action, and what a copy must not do', () => {
    const lines = recoverySettings(
      { kind: 'time', value: '2026-11-20T12:30:00Z', inclusive: false, action: 'pause' },
      { restoreCommand: 'pgdr wal fetch --cluster c1 %f %p', port: 55433, keepArchiving: false, marker: 'pgdr restore x' },
    );
    expect(lines).toEqual([
      '# pgdr restore x',
      'port = 55433',
      "restore_command = 'pgdr wal fetch --cluster c1 %f %p'",
      "recovery_target_timeline = 'latest'",
      "recovery_target_time = '2026-11-20 12:30:00+00:00'",
      'recovery_target_inclusive = off',
      "recovery_target_action = 'pause'",
      'hot_standby = on',
      "primary_conninfo = ''",
      "primary_slot_name = ''",
      "synchronous_standby_names = ''",
      "archive_mode = 'off'",
    ]);
    expect(pgTimestamp('2026-11-20T12:30:00.5+01:00')).toBe('2026-11-20 12:30:00.5+01:00');
  });

  it('accepts RFC 3339 with an offset only', () => {
    expect(['2026-11-20T12:30:00Z', '2026-11-20T12:30:00.123456+05:30'].map(isRfc3339)).toEqual([true, true]);
    expect(['2026-11-20 12:30:00', '2026-11-20T12:30:00', 'yesterday', '2026-13-40T99:00:00Z'].map(isRfc3339)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it('fails a stop past the target time, short of an lsn, or in the wrong state, saying where it stopped', () => {
    const s = { kind: 'time' as const, value: '2026-11-20T12:30:00.000100Z', inclusive: true, action: 'pause' as const };
    expect(judgeStop(s, { replayLsn: '0/7000000', lastCommitTime: '2026-11-20T12:30:00.000100Z', state: 'paused' }, b2)).toBeNull();
    expect(judgeStop(s, { replayLsn: '0/7000000', lastCommitTime: '2026-11-20T12:30:00.000101Z', state: 'paused' }, b2)).toBe(
      'recovery stopped at lsn 0/7000000, last commit 2026-11-20T12:30:00.000101Z: a commit after the target time 2026-11-20T12:30:00.000100Z was replayed',
    );
    expect(judgeStop(s, { replayLsn: '0/7000000', lastCommitTime: null, state: 'promoted' }, b2)).toBe(
      'recovery stopped at lsn 0/7000000, last commit none replayed and is promoted, expected paused at the target',
    );
    expect(
      judgeStop(
        { kind: 'lsn', value: '0/7000000', inclusive: true, action: 'promote' },
        { replayLsn: '0/6FFFFF0', lastCommitTime: null, state: 'promoted' },
        b2,
      ),
    ).toContain('short of the target lsn 0/7000000');
  });
});
