/** The rebuild and switchover judgements, over hand-made probes. */
import { describe, expect, it } from 'vitest';
import {
  judgeRebuild,
  judgeSwitchover,
  primaryConninfo,
  replayedPast,
  replayedTo,
  swapSyncNames,
  archiveProblems,
} from '../../domain/replication.js';
import { summarizeCluster, type NodeProbe } from '../../domain/status.js';
import type { WalCheckResult } from '../../domain/walCheck.js';

const now = new Date('2026-11-21T10:00:00Z');
const archiver = {
  archivedCount: 5,
  lastArchivedWal: '000000010000000000000005',
  lastArchivedAt: '2026-11-21T09:59:00Z',
  failedCount: 0,
  lastFailedWal: null,
  lastFailedAt: null,
};

function probe(node: string, role: 'primary' | 'standby', over: Partial<NodeProbe> = {}): NodeProbe {
  return {
    node,
    role,
    systemIdentifier: '7',
    serverVersion: 150000,
    timeline: 1,
    currentLsn: role === 'primary' ? '0/5000000' : null,
    receiveLsn: null,
    replayLsn: role === 'standby' ? '0/4FFF000' : null,
    replayDelaySeconds: null,
    replayPaused: role === 'standby' ? false : null,
    synchronousStandbyNames: '',
    dataChecksums: true,
    archiveMode: 'on',
    archiver,
    replication:
      role === 'primary'
        ? [
            {
              applicationName: 'b',
              clientAddr: null,
              state: 'streaming',
              syncState: 'async',
              sentLsn: null,
              replayLsn: null,
              replayLagBytes: 0,
              replayLagSeconds: 0,
              slotName: 'pgdr_b',
            },
          ]
        : [],
    walReceiver:
      role === 'standby'
        ? { status: 'streaming', senderHost: null, senderPort: null, slotName: `pgdr_${node}`, receivedTimeline: 1 }
        : null,
    probedAt: now.toISOString(),
    ...over,
  };
}
const status = (...probes: (NodeProbe | string)[]) =>
  summarizeCluster(
    'c',
    probes.map((p) =>
      typeof p === 'string'
        ? { node: { name: p, taskQueue: 'q' }, error: 'connect ECONNREFUSED' }
        : { node: { name: p.node, taskQueue: 'q' }, probe: p },
    ),
    undefined,
    now,
  );

describe('judgeSwitchover', () => {
  it('passes a streaming candidate within the lag limit, with the facts', () => {
    const v = judgeSwitchover(status(probe('a', 'primary'), probe('b', 'standby')), 'b', 16 * 1024 * 1024, null, now);
    expect(v.invalid).toEqual([]);
    expect(v.unmet).toEqual([]);
    expect(v.primary).toBe('a');
    expect(v.facts).toMatchObject({ candidateLagBytes: 0x1000, timeline: 1 });
  });

  it('names every unmet precondition with its numbers', () => {
    const lagging = probe('b', 'standby', {
      replayLsn: '0/4000000',
      timeline: 2,
      replayPaused: true,
      walReceiver: { status: 'waiting', senderHost: null, senderPort: null, slotName: 'pgdr_b', receivedTimeline: 2 },
    });
    const v = judgeSwitchover(status(probe('a', 'primary'), lagging), 'b', 1000, null, now);
    expect(v.unmet.join('\n')).toMatch(/not streaming \(wal receiver: waiting; expected streaming\)/);
    expect(v.unmet.join('\n')).toMatch(/on timeline 2, the primary a on 1/);
    expect(v.unmet.join('\n')).toMatch(/WAL replay paused/);
    expect(v.unmet.join('\n')).toMatch(
      /lags 16777216 bytes behind the primary \(replayed 0\/4000000, primary at 0\/5000000; expected at most 1000\)/,
    );
  });

  it('refuses a candidate that is the primary (422) or unreachable (412)', () => {
    expect(judgeSwitchover(status(probe('a', 'primary'), probe('b', 'standby')), 'a', 0, null, now).invalid).toEqual([
      'candidate a is already the primary',
    ]);
    expect(judgeSwitchover(status(probe('a', 'primary'), 'b'), 'b', 0, null, now).unmet[0]).toMatch(
      /candidate b is unreachable: connect ECONNREFUSED/,
    );
    expect(judgeSwitchover(status(probe('a', 'primary'), probe('b', 'standby')), 'z', 0, null, now).invalid).toEqual([
      'candidate z is not a node of the cluster',
    ]);
    expect(judgeSwitchover(status('a', probe('b', 'standby')), 'b', 0, null, now).unmet[0]).toMatch(/no reachable primary/);
  });

  it('refuses when the archive fails: the archiver, or a recent failed check', () => {
    const failing = probe('a', 'primary', {
      archiver: { ...archiver, lastFailedWal: '000000010000000000000006', lastFailedAt: '2026-11-21T09:59:30Z' },
    });
    expect(judgeSwitchover(status(failing, probe('b', 'standby')), 'b', 1e9, null, now).unmet.join()).toMatch(
      /archiver is failing: last failure 000000010000000000000006/,
    );
    const check = { healthy: false, checkedAt: '2026-11-21T09:50:00Z', problems: ['gap at 000000010000000000000003'] } as WalCheckResult;
    expect(archiveProblems(undefined, check, now)).toEqual([
      'the last WAL archive check (2026-11-21T09:50:00Z) failed: gap at 000000010000000000000003',
    ]);
    // A failed check from yesterday is not today's archive.
    expect(archiveProblems(undefined, { ...check, checkedAt: '2026-11-20T09:50:00Z' }, now)).toEqual([]);
  });
});

describe('judgeRebuild', () => {
  it('never the primary; a standby or a dead node may be rebuilt from the one primary', () => {
    expect(judgeRebuild(status(probe('a', 'primary'), probe('b', 'standby')), 'a').invalid[0]).toMatch(/node a is the primary/);
    expect(judgeRebuild(status(probe('a', 'primary'), 'b'), 'b')).toEqual({ primary: 'a', invalid: [], unmet: [] });
    expect(judgeRebuild(status(probe('a', 'primary'), probe('b', 'primary')), 'c').unmet[0]).toMatch(/more than one primary: a, b/);
  });
});

describe('helpers', () => {
  it('swaps the candidate for the old primary in synchronous_standby_names', () => {
    expect(swapSyncNames('FIRST 1 (b, c)', 'b', 'a')).toBe('FIRST 1 (a, c)');
    expect(swapSyncNames('ANY 1 ("b", bb)', 'b', 'a')).toBe('ANY 1 ("a", bb)');
    expect(swapSyncNames('', 'b', 'a')).toBe('');
  });
  it('replayedPast is strict: the checkpoint record must be replayed, not just reached', () => {
    expect(replayedPast('0/5000028', '0/5000028')).toBe(false);
    expect(replayedPast('0/50000A0', '0/5000028')).toBe(true);
    expect(replayedPast(null, '0/5000028')).toBe(false);
  });
  it("replayedTo counts reaching the end of the primary's WAL: an idle primary's end is where replay stops", () => {
    expect(replayedTo('0/35038AC8', '0/35038AC8')).toBe(true);
    expect(replayedTo('0/35038AC0', '0/35038AC8')).toBe(false);
    expect(replayedTo('1/0', '0/FFFFFFFF')).toBe(true);
    expect(replayedTo(null, '0/5000028')).toBe(false);
  });
  it('primary_conninfo names a passfile, never a password, and quotes values', () => {
    const c = primaryConninfo(
      { host: 'db-1', port: 5433 },
      { user: "o'neil", applicationName: 'b', passfile: '/etc/pgdr/pgpass', sslmode: 'verify-full' },
    );
    expect(c).toBe("host='db-1' port=5433 user='o\\'neil' application_name='b' sslmode=verify-full passfile='/etc/pgdr/pgpass'");
    expect(c).not.toMatch(/password/);
  });
  it("primary_conninfo carries the root certificate and the client certificate as files on the standby's host", () => {
    const c = primaryConninfo(
      { host: 'db-1', port: 5432 },
      {
        user: 'pgdr',
        applicationName: 'b',
        sslmode: 'verify-full',
        sslrootcert: '/etc/pgdr/ca.crt',
        sslcert: '/etc/pgdr/c.crt',
        sslkey: '/etc/pgdr/c.key',
      },
    );
    expect(c).toBe(
      "host='db-1' port=5432 user='pgdr' application_name='b' sslmode=verify-full sslrootcert='/etc/pgdr/ca.crt' sslcert='/etc/pgdr/c.crt' sslkey='/etc/pgdr/c.key'",
    );
  });
});
