/**
 * switchover (workflows/switchover.ts) against stub node agents: the happy path, and every point
 * of the fence where it rolls back. A rollback restarts the old primary once it was stopped,
 * fences a candidate that may have received the promote request, gives the candidate its
 * restore_command back, resumes PgBouncer, fails with SwitchoverRolledBackError, and releases
 * the cluster lock.
 */
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { switchoverInput } from '../../control/inputs.js';
import type { SwitchoverReport } from '../../domain/replication.js';
import type { switchover } from '../../workflows/switchover.js';
import { useFastEnv } from './helpers/env.js';
import { RESTORE_COMMAND, SHUTDOWN_CHECKPOINT, blockUntilCancelled, fail, type Call, type FakeCluster } from './helpers/fakeCluster.js';
import { failureOf } from './helpers/outcome.js';

const env = useFastEnv();

/** a is the primary, b the candidate, c another standby with PgBouncer on its host. */
async function cluster(): Promise<FakeCluster> {
  return env.cluster({ nodes: ['a', 'b', 'c'], pgbouncerOn: 'c' });
}

function start(fc: FakeCluster) {
  return fc.start<typeof switchover>('switchover', [switchoverInput(fc.config, fc.name, 'b', {}, 'fast-test')]);
}

/** The calls that change something, in order, as "<where> <activity> [<what>]" (probes run in parallel: left out). */
function steps(fc: FakeCluster): string[] {
  const label = (c: Call) => {
    const what = c.input?.command ?? c.input?.mode ?? c.input?.slot ?? '';
    return `${c.where} ${c.name}${what ? ` ${what}` : ''}`;
  };
  return fc.calls.filter((c) => !['probeNode', 'readWalCheck', 'lockHolder'].includes(c.name)).map(label);
}

/** Everything up to and including PgBouncer's PAUSE. */
const BEFORE_STOP = [
  'a checkpoint',
  // Liveness: the candidate replays that CHECKPOINT before anything is paused.
  'b awaitReplayed',
  'b ensureSlot pgdr_a',
  'b ensureSlot pgdr_c',
  'control awaitArchived',
  'b setRestoreCommand off',
  'a awaitArchiverIdle',
  'control pgbouncerAdmin PAUSE',
];

describe('switchover with stub agents', () => {
  it('moves the primary to the candidate: fence in order, clients resumed on the new primary, the old one rejoins, the lock released', async () => {
    const fc = await cluster();
    const handle = await start(fc);
    const report = (await handle.result()) as SwitchoverReport;

    expect(report).toMatchObject({
      cluster: fc.name,
      oldPrimary: 'a',
      newPrimary: 'b',
      shutdownCheckpointLsn: SHUTDOWN_CHECKPOINT,
      newTimeline: 2,
      historyArchived: true,
      warnings: [],
    });
    expect(report.pgbouncer).toEqual({ paused: true, repointed: true });
    expect(report.rejoined).toEqual(
      expect.arrayContaining([
        { node: 'a', rewound: false, streaming: true },
        { node: 'c', rewound: false, streaming: true },
      ]),
    );
    // The fence, then clients: strictly in this order.
    expect(steps(fc).slice(0, BEFORE_STOP.length + 5)).toEqual([
      ...BEFORE_STOP,
      'a stopAndReadControl',
      'b awaitReplayed',
      'b promote',
      'c pointPgBouncer',
      'b setRestoreCommand restore',
    ]);
    // First the liveness check (the primary's WAL position after its CHECKPOINT), then the fence's.
    expect(fc.callsOf('awaitReplayed').map((c) => c.input.lsn)).toEqual(['0/5000000', SHUTDOWN_CHECKPOINT]);
    expect(fc.callsOf('awaitReplayed')[0]!.input).toMatchObject({
      timeoutSeconds: 10,
      what: "the end of a's WAL after its CHECKPOINT",
      endOfWal: true,
    });
    expect(fc.callsOf('setRestoreCommand', 'b').at(-1)!.input.previous).toBe(RESTORE_COMMAND);
    expect(fc.callsOf('pointPgBouncer')[0]!.input).toMatchObject({ primary: 'b', resume: true });
    // The old primary rejoined as b's standby; c follows b.
    expect(fc.callsOf('writeStandbySettings', 'a')[0]!.input).toMatchObject({ primary: 'b' });
    expect(fc.callsOf('repointStandby', 'c')[0]!.input).toMatchObject({ primary: 'b' });
    expect(fc.callsOf('storeSwitchoverReport')).toHaveLength(1);
    expect(fc.callsOf('startServer').map((c) => c.where)).toEqual(['a']);
    expect(fc.callsOf('stopServer')).toEqual([]);
    expect(await fc.lockRelease()).toBe('released');
  });

  it('refuses on fresh probes before touching anything when the candidate does not stream', async () => {
    const fc = await cluster();
    fc.on(
      'probeNode',
      () => ({
        ...fc.probe('b'),
        walReceiver: { status: 'stopping', senderHost: null, senderPort: null, slotName: 'pgdr_b', receivedTimeline: 1 },
      }),
      'b',
    );
    const failure = await failureOf(await start(fc));
    expect(failure.type).toBe('ReplicationPreconditionError');
    expect(failure.message).toContain('candidate b is not streaming (wal receiver: stopping; expected streaming)');
    expect(steps(fc)).toEqual([]);
    expect(await fc.lockRelease()).toBe('released');
  });

  const rollbacks: { point: string; arrange: (fc: FakeCluster) => void; reason: string; trace: string[]; fenced?: boolean }[] = [
    {
      point: 'PgBouncer PAUSE fails',
      arrange: (fc) =>
        fc.on('pgbouncerAdmin', (i: { command: string }) => {
          if (i.command === 'PAUSE') throw ApplicationFailure.nonRetryable('PAUSE timed out after 15 s', 'FakeFailure');
        }),
      reason: 'PAUSE timed out after 15 s',
      // Nothing was stopped: only restore_command and clients are put back.
      trace: [...BEFORE_STOP, 'b setRestoreCommand restore', 'control pgbouncerAdmin RESUME'],
    },
    {
      point: 'stopping the primary fails',
      arrange: (fc) => fc.on('stopAndReadControl', fail('pg_ctl stop: server does not shut down')),
      reason: 'pg_ctl stop: server does not shut down',
      trace: [...BEFORE_STOP, 'a stopAndReadControl', 'a startServer', 'b setRestoreCommand restore', 'control pgbouncerAdmin RESUME'],
    },
    {
      point: 'the primary does not shut down cleanly',
      arrange: (fc) => fc.on('stopAndReadControl', () => ({ control: { state: 'in production', checkpointLsn: SHUTDOWN_CHECKPOINT } })),
      reason: 'a did not shut down cleanly (pg_controldata state "in production", expected "shut down")',
      trace: [...BEFORE_STOP, 'a stopAndReadControl', 'a startServer', 'b setRestoreCommand restore', 'control pgbouncerAdmin RESUME'],
    },
    {
      point: 'the candidate does not replay the shutdown checkpoint',
      arrange: (fc) =>
        fc.on('awaitReplayed', (i: { lsn: string }) =>
          i.lsn === SHUTDOWN_CHECKPOINT
            ? { ok: false, reason: `b replayed 0/5000000, not past ${SHUTDOWN_CHECKPOINT}, within 30 s` }
            : { ok: true, replayLsn: i.lsn },
        ),
      reason: `b replayed 0/5000000, not past ${SHUTDOWN_CHECKPOINT}, within 30 s`,
      trace: [
        ...BEFORE_STOP,
        'a stopAndReadControl',
        'b awaitReplayed',
        'a startServer',
        'b setRestoreCommand restore',
        'control pgbouncerAdmin RESUME',
      ],
    },
    {
      point: 'promote fails',
      arrange: (fc) => fc.on('promote', fail('pg_promote: server did not promote within 60 seconds')),
      reason: 'pg_promote: server did not promote within 60 seconds; b was stopped (fenced) and needs a rebuild',
      // The candidate may have got the request: stopped (immediate) before the old primary starts again.
      trace: [
        ...BEFORE_STOP,
        'a stopAndReadControl',
        'b awaitReplayed',
        'b promote',
        'b stopServer immediate',
        'a startServer',
        'control pgbouncerAdmin RESUME',
      ],
      fenced: true,
    },
    {
      point: 'promote answers not promoted',
      arrange: (fc) => fc.on('promote', () => ({ promoted: false, timeline: 1, detail: 'pg_promote returned false' })),
      reason: 'b was not promoted: pg_promote returned false; b was stopped (fenced) and needs a rebuild',
      trace: [
        ...BEFORE_STOP,
        'a stopAndReadControl',
        'b awaitReplayed',
        'b promote',
        'b stopServer immediate',
        'a startServer',
        'control pgbouncerAdmin RESUME',
      ],
      fenced: true,
    },
  ];

  for (const r of rollbacks) {
    it(`rolls back when ${r.point}`, async () => {
      const fc = await cluster();
      r.arrange(fc);
      const handle = await start(fc);
      const failure = await failureOf(handle);

      expect(failure.type).toBe('SwitchoverRolledBackError');
      expect(failure.message).toBe(`switchover of cluster "${fc.name}" to "b" rolled back: ${r.reason}; "a" is the primary again`);
      expect(steps(fc)).toEqual(r.trace);
      const resumed = fc.callsOf('setRestoreCommand', 'b').find((c) => c.input.mode === 'restore');
      if (!r.fenced) expect(resumed?.input.previous).toBe(RESTORE_COMMAND);
      // The old primary is the running primary again; a fenced candidate is down.
      expect(fc.nodes.get('a')).toEqual({ role: 'primary', running: true });
      expect(fc.nodes.get('b')!.running).toBe(!r.fenced);
      expect(fc.callsOf('storeSwitchoverReport')).toEqual([]);
      expect(await handle.query<{ step: string; pointOfNoReturn: boolean }>('progress')).toMatchObject({
        step: 'rolling back',
        pointOfNoReturn: false,
      });
      expect(await fc.lockRelease()).toBe('released');
    });
  }

  it('rolls back when cancelled while the candidate replays, and says it was cancelled', async () => {
    const fc = await cluster();
    let inFence!: () => void;
    const replaying = new Promise<void>((r) => (inFence = r));
    fc.on('awaitReplayed', (i: { lsn: string }) => {
      if (i.lsn !== SHUTDOWN_CHECKPOINT) return { ok: true, replayLsn: i.lsn };
      inFence();
      return blockUntilCancelled();
    });
    const handle = await start(fc);
    await replaying;
    await handle.cancel();
    const failure = await failureOf(handle);

    expect(failure.type).toBe('SwitchoverRolledBackError');
    expect(failure.message).toBe(`switchover of cluster "${fc.name}" to "b" rolled back: cancelled; "a" is the primary again`);
    expect(steps(fc)).toEqual([
      ...BEFORE_STOP,
      'a stopAndReadControl',
      'b awaitReplayed',
      'a startServer',
      'b setRestoreCommand restore',
      'control pgbouncerAdmin RESUME',
    ]);
    expect(fc.nodes.get('a')).toEqual({ role: 'primary', running: true });
    expect(await fc.lockRelease()).toBe('released');
  });

  it('stops before pausing anything when the candidate does not replay the CHECKPOINT in time (a stream cut moments ago)', async () => {
    const fc = await cluster();
    fc.on('awaitReplayed', (i: { lsn: string; timeoutSeconds: number; what: string }) => ({
      ok: false,
      replayLsn: '0/4FFFF00',
      reason: `the candidate replayed only to 0/4FFFF00 within ${i.timeoutSeconds} s, not up to ${i.what} at ${i.lsn}`,
    }));
    const failure = await failureOf(await start(fc));
    expect(failure.type).toBe('ReplicationPreconditionError');
    expect(failure.message).toContain(
      "candidate b is not replaying a's WAL now: the candidate replayed only to 0/4FFFF00 within 10 s, not up to the end of a's WAL after its CHECKPOINT at 0/5000000; its stream may be cut (it looks alive for up to wal_sender_timeout); nothing was paused or stopped",
    );
    // Only the CHECKPOINT and the check: no slot, no restore_command change, no PAUSE, no stop.
    expect(steps(fc)).toEqual(['a checkpoint', 'b awaitReplayed']);
    expect(fc.nodes.get('a')).toEqual({ role: 'primary', running: true });
    expect(fc.nodes.get('b')).toMatchObject({ role: 'standby', running: true });
    expect(fc.callsOf('storeSwitchoverReport')).toEqual([]);
    expect(await fc.lockRelease()).toBe('released');
  });

  it('after the point of no return a failed repoint is a warning, not a rollback: clients are resumed on the new primary anyway', async () => {
    const fc = await cluster();
    fc.on('pointPgBouncer', fail('databasesFile not writable'));
    const report = (await (await start(fc)).result()) as SwitchoverReport;

    expect(report.newPrimary).toBe('b');
    expect(report.pgbouncer).toEqual({ paused: true, repointed: false });
    expect(report.warnings).toEqual(['pgbouncer could not be repointed to b: databasesFile not writable']);
    expect(steps(fc)).toContain('control pgbouncerAdmin RESUME');
    expect(fc.callsOf('startServer').map((c) => c.where)).toEqual(['a']);
    expect(await fc.lockRelease()).toBe('released');
  });
});
