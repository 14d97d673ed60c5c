/**
 * pitrRestore (workflows/pitrRestore.ts) against stub node agents: whatever does not finish,
 * by failure or cancel, is undone by cleanupRestore with the right arguments (a replaced data
 * directory is put back and restarted), a copy the restore never prepared is left alone, and the
 * destination's lock (and, when replacing, the cluster's) is released every time.
 */
import { describe, expect, it } from 'vitest';
import { restoreInput, defaultDestination } from '../../control/inputs.js';
import { destinationLockId, setAsideName } from '../../domain/naming.js';
import type { RestoreReport, RestoreRequest } from '../../domain/restore.js';
import type { pitrRestore, RestoreProgress } from '../../workflows/pitrRestore.js';
import { useFastEnv } from './helpers/env.js';
import { BACKUP, LAST_COMMIT, RESTORE_DIR, blockUntilCancelled, fail, type FakeCluster } from './helpers/fakeCluster.js';
import { cancelled, failureOf } from './helpers/outcome.js';

const env = useFastEnv();

/** A restore of the latest commit onto node b: a new copy, or (replace) over b's existing directory there. */
function request(fc: FakeCluster, opts: { replace?: boolean } = {}): RestoreRequest {
  const destination = defaultDestination(fc.config, fc.name, 'copy', {
    node: 'b',
    ...(opts.replace ? { dataDir: `${RESTORE_DIR}/${fc.name}-existing` } : {}),
  });
  return {
    cluster: fc.name,
    target: { latest: true },
    destination,
    action: 'promote',
    inclusive: true,
    replaceExisting: opts.replace ?? false,
    ...(opts.replace ? { confirm: fc.name } : {}),
  };
}

async function start(fc: FakeCluster, req: RestoreRequest, suffix = 'test') {
  return fc.start<typeof pitrRestore>('pitrRestore', [restoreInput(fc.config, req, 'fast-test')], suffix);
}

/** The destination lock of `dataDir` on node b's fake host. */
const destLock = (fc: FakeCluster, dataDir: string) => destinationLockId(`host-${fc.name}-b`, dataDir);

describe('pitrRestore with stub agents', () => {
  it('restores a new copy: prepared, fetched, verified, started, at the target, reported; nothing cleaned up; destination lock released', async () => {
    const fc = await env.cluster();
    const req = request(fc);
    const handle = await start(fc, req);
    const report = (await handle.result()) as RestoreReport;

    expect(report).toMatchObject({
      cluster: fc.name,
      backupId: BACKUP.id,
      destination: { node: 'b', dataDir: req.destination.dataDir, port: 55432 },
      replaced: null,
    });
    expect(report.stop).toEqual({ replayLsn: LAST_COMMIT.lsn, lastCommitTime: LAST_COMMIT.time, state: 'promoted' });
    // Node work ran on b's agent only; the target was pinned to the newest archived commit.
    expect(new Set(fc.calls.filter((c) => c.where !== 'control' && c.name !== 'probeNode').map((c) => c.where))).toEqual(new Set(['b']));
    expect(fc.callsOf('writeRecoverySettings')[0]!.input.settings).toMatchObject({
      kind: 'lsn',
      value: LAST_COMMIT.lsn,
      action: 'promote',
    });
    expect(fc.callsOf('cleanupRestore')).toEqual([]);
    expect(fc.callsOf('storeRestoreReport')).toHaveLength(1);
    expect(fc.dirs.get(req.destination.dataDir)).toEqual({ state: 'pgData', running: true });
    expect(await fc.lockRelease(destLock(fc, req.destination.dataDir))).toBe('released');
    // Releasing the lock is the run's last step: the run ended only once the lock had closed (a
    // restore started right after finds the directory free), and the server rejected none of
    // its workflow tasks (the lock's completion used to race the run's own: UnhandledCommand).
    const events = (await handle.fetchHistory()).events ?? [];
    const lockClosed = events.findIndex(
      (e) => e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId === destLock(fc, req.destination.dataDir),
    );
    expect(lockClosed).toBeGreaterThan(0);
    expect(lockClosed).toBeLessThan(events.findIndex((e) => e.workflowExecutionCompletedEventAttributes));
    expect(events.filter((e) => e.workflowTaskFailedEventAttributes).map((e) => e.workflowTaskFailedEventAttributes?.cause)).toEqual([]);
  });

  it('cleans up a copy that failed after its destination was prepared, and releases the destination', async () => {
    const fc = await env.cluster();
    fc.on('fetchBaseBackup', fail('sha256 mismatch on base.tar.zst'));
    const req = request(fc);
    const handle = await start(fc, req);
    const failure = await failureOf(handle);

    expect(failure.message).toBe('sha256 mismatch on base.tar.zst');
    const cleanups = fc.callsOf('cleanupRestore');
    expect(cleanups).toHaveLength(1);
    expect(cleanups[0]!.where).toBe('b');
    expect(cleanups[0]!.input).toMatchObject({
      dataDir: req.destination.dataDir,
      createdDir: true,
      oldDataDir: null,
      restartOld: false,
      keepLog: true,
    });
    expect(fc.dirs.has(req.destination.dataDir)).toBe(false);
    expect(fc.callsOf('storeRestoreReport')).toEqual([]);
    expect((await handle.query<RestoreProgress>('progress')).step).toBe('failed: cleaning up');
    expect(await fc.lockRelease(destLock(fc, req.destination.dataDir))).toBe('released');
  });

  it('cleans up when recovery did not stop at the target (RecoveryTargetMissedError)', async () => {
    const fc = await env.cluster();
    fc.on('awaitRecoveryTarget', () => ({ replayLsn: '0/4000000', lastCommitTime: null, state: 'paused' }));
    const req = request(fc);
    const failure = await failureOf(await start(fc, req));

    expect(failure.type).toBe('RecoveryTargetMissedError');
    expect(failure.message).toContain('recovery stopped at lsn 0/4000000, last commit none replayed and is paused, expected promoted');
    expect(fc.callsOf('cleanupRestore').map((c) => c.input.dataDir)).toEqual([req.destination.dataDir]);
    expect(fc.dirs.has(req.destination.dataDir)).toBe(false);
    expect(await fc.lockRelease(destLock(fc, req.destination.dataDir))).toBe('released');
  });

  it('cleans up when cancelled while replaying, ends cancelled, and releases the destination', async () => {
    const fc = await env.cluster();
    fc.on('awaitRecoveryTarget', blockUntilCancelled);
    const req = request(fc);
    const handle = await start(fc, req);
    await fc.called('awaitRecoveryTarget');
    expect(fc.dirs.get(req.destination.dataDir)).toEqual({ state: 'pgData', running: true });
    await handle.cancel();

    expect(await cancelled(handle)).toBe(true);
    expect(fc.callsOf('cleanupRestore').map((c) => c.input)).toEqual([
      expect.objectContaining({ dataDir: req.destination.dataDir, createdDir: true, oldDataDir: null, restartOld: false }),
    ]);
    expect(fc.dirs.has(req.destination.dataDir)).toBe(false);
    expect((await handle.query<RestoreProgress>('progress')).step).toBe('cancelled: cleaning up');
    expect(await fc.lockRelease(destLock(fc, req.destination.dataDir))).toBe('released');
  });

  it("leaves a copy alone when preparing its destination failed (it may be someone else's data)", async () => {
    const fc = await env.cluster();
    fc.on('prepareDestination', fail('destination is not empty any more', 'RestorePreflightError'));
    const req = request(fc);
    const failure = await failureOf(await start(fc, req));

    expect(failure.type).toBe('RestorePreflightError');
    expect(fc.callsOf('cleanupRestore')).toEqual([]);
    expect(await fc.lockRelease(destLock(fc, req.destination.dataDir))).toBe('released');
  });

  it('replacing: a failed restore puts the old data directory back and restarts it; cluster and destination locks released', async () => {
    const fc = await env.cluster();
    const req = request(fc, { replace: true });
    const dir = req.destination.dataDir;
    fc.dirs.set(dir, { state: 'pgData', running: true });
    fc.on('verifyRestoredBackup', fail('pg_verifybackup: checksum mismatch for file "base/1/1259"'));
    const handle = await start(fc, req);
    const failure = await failureOf(handle);
    const { restoreId } = await handle.query<RestoreProgress>('progress');

    expect(failure.message).toBe('pg_verifybackup: checksum mismatch for file "base/1/1259"');
    expect(fc.callsOf('prepareDestination')[0]!.input).toMatchObject({ dataDir: dir, replacing: true, stopFirst: true });
    expect(fc.callsOf('cleanupRestore').map((c) => c.input)).toEqual([
      expect.objectContaining({ dataDir: dir, createdDir: true, oldDataDir: setAsideName(dir, restoreId), restartOld: true }),
    ]);
    // The old directory is back in its place, running, and nothing is left aside.
    expect([...fc.dirs]).toEqual([[dir, { state: 'pgData', running: true }]]);
    expect(fc.callsOf('removeOldDataDir')).toEqual([]);
    expect(await fc.lockRelease(destLock(fc, dir))).toBe('released');
    expect(await fc.lockRelease()).toBe('released');
  });

  it('replacing: a cancel while downloading puts the old data directory back', async () => {
    const fc = await env.cluster();
    const req = request(fc, { replace: true });
    const dir = req.destination.dataDir;
    fc.dirs.set(dir, { state: 'pgData', running: true });
    fc.on('fetchBaseBackup', blockUntilCancelled);
    const handle = await start(fc, req);
    await fc.called('fetchBaseBackup');
    const { restoreId } = await handle.query<RestoreProgress>('progress');
    expect(fc.dirs.get(setAsideName(dir, restoreId))).toEqual({ state: 'pgData', running: false });
    await handle.cancel();

    expect(await cancelled(handle)).toBe(true);
    expect(fc.callsOf('cleanupRestore').map((c) => c.input)).toEqual([
      expect.objectContaining({ dataDir: dir, oldDataDir: setAsideName(dir, restoreId), restartOld: true }),
    ]);
    expect([...fc.dirs]).toEqual([[dir, { state: 'pgData', running: true }]]);
    expect(await fc.lockRelease(destLock(fc, dir))).toBe('released');
    expect(await fc.lockRelease()).toBe('released');
  });

  it('replacing: when preparing fails, cleanup still looks for the directory it may have set aside', async () => {
    const fc = await env.cluster();
    const req = request(fc, { replace: true });
    fc.dirs.set(req.destination.dataDir, { state: 'pgData', running: true });
    fc.on('prepareDestination', fail('rename failed: EXDEV'));
    const handle = await start(fc, req);
    await failureOf(handle);
    const { restoreId } = await handle.query<RestoreProgress>('progress');

    expect(fc.callsOf('cleanupRestore').map((c) => c.input)).toEqual([
      expect.objectContaining({
        dataDir: req.destination.dataDir,
        oldDataDir: setAsideName(req.destination.dataDir, restoreId),
        restartOld: true,
      }),
    ]);
    expect(await fc.lockRelease()).toBe('released');
  });

  it('replacing: a proven restore removes the directory it set aside', async () => {
    const fc = await env.cluster();
    const req = request(fc, { replace: true });
    const dir = req.destination.dataDir;
    fc.dirs.set(dir, { state: 'pgData', running: true });
    const handle = await start(fc, req);
    const report = (await handle.result()) as RestoreReport;
    const { restoreId } = await handle.query<RestoreProgress>('progress');

    expect(report.replaced).toEqual({ oldDataDir: setAsideName(dir, restoreId), removed: true });
    expect([...fc.dirs]).toEqual([[dir, { state: 'pgData', running: true }]]);
    expect(fc.callsOf('cleanupRestore')).toEqual([]);
    expect(await fc.lockRelease()).toBe('released');
  });

  it('refuses a second restore into the same directory while the first runs, naming it, and touches nothing', async () => {
    const fc = await env.cluster();
    fc.on('fetchBaseBackup', blockUntilCancelled);
    const req = request(fc);
    const first = await start(fc, req, 'first');
    await fc.called('fetchBaseBackup');
    const second = await start(fc, req, 'second');
    const failure = await failureOf(second);

    expect(failure.type).toBe('DestinationBusyError');
    expect(failure.message).toContain(`is already being restored by ${first.workflowId}`);
    expect(fc.calls.filter((c) => c.workflowId === second.workflowId && ['prepareDestination', 'cleanupRestore'].includes(c.name))).toEqual(
      [],
    );
    await first.cancel();
    expect(await cancelled(first)).toBe(true);
    expect(await fc.lockRelease(destLock(fc, req.destination.dataDir))).toBe('released');
  });
});
