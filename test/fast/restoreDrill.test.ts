/**
 * restoreDrill (workflows/restoreDrill.ts) against stub node agents: the scratch copy is always
 * torn down, after a drill that passes, one whose check fails, one whose restore fails, one whose
 * checks break, and one cancelled, and the drill never removes a directory it did not see restored.
 */
import { describe, expect, it } from 'vitest';
import { drillInput } from '../../control/inputs.js';
import type { DrillReport } from '../../domain/drill.js';
import { drillCoverage, proofsFrom } from '../../domain/drillCoverage.js';
import type { restoreDrill } from '../../workflows/restoreDrill.js';
import { useFastEnv } from './helpers/env.js';
import { BACKUP, RESTORE_DIR, blockUntilCancelled, fail, type FakeCluster } from './helpers/fakeCluster.js';
import { cancelled, failureOf } from './helpers/outcome.js';

const env = useFastEnv();

async function start(fc: FakeCluster) {
  return fc.start<typeof restoreDrill>('restoreDrill', [drillInput(fc.config, fc.name, 'fast-test')]);
}

/** The drill's scratch directory of its first restore (drillNode a: the config names no drill or restore node). */
function scratchDir(fc: FakeCluster): string {
  const dir = fc.callsOf('prepareDestination', 'a')[0]?.input.dataDir as string | undefined;
  if (!dir) throw new Error('the drill prepared no scratch directory');
  return dir;
}

/** cleanupRestore calls the drill itself made (not its child restore). */
function drillTeardowns(fc: FakeCluster, drillId: string) {
  return fc.callsOf('cleanupRestore').filter((c) => c.workflowId === drillId);
}

describe('restoreDrill with stub agents', () => {
  it('passes, then tears the scratch copy down: stopped and removed with its socket, confirmed gone', async () => {
    const fc = await env.cluster();
    const handle = await start(fc);
    const report = (await handle.result()) as DrillReport;
    const dir = scratchDir(fc);

    expect(dir.startsWith(`${RESTORE_DIR}/${fc.name}-drill-`)).toBe(true);
    expect(report).toMatchObject({ cluster: fc.name, ok: true, failures: [], node: 'a' });
    expect(report.restores).toHaveLength(1);
    expect(report.restores[0]).toMatchObject({ backupId: BACKUP.id, error: null, teardown: { removed: true } });
    expect(fc.callsOf('runDrillChecks')[0]!.input).toMatchObject({ port: 55432 });
    const [teardown, ...more] = drillTeardowns(fc, handle.workflowId);
    expect(more).toEqual([]);
    expect(teardown!.input).toMatchObject({
      dataDir: dir,
      createdDir: true,
      oldDataDir: null,
      restartOld: false,
      privateSocketDir: expect.stringMatching(/^\/tmp\/pgdr-drill-/),
    });
    // Confirmed after the teardown, on the drill node.
    const inspections = fc.callsOf('inspectDestination', 'a').filter((c) => c.workflowId === handle.workflowId);
    expect(inspections.map((c) => c.input.dataDir)).toEqual([dir]);
    expect(fc.calls.indexOf(inspections[0]!)).toBeGreaterThan(fc.calls.indexOf(teardown!));
    expect(fc.dirs.has(dir)).toBe(false);
    expect(fc.callsOf('storeDrillReport')).toHaveLength(1);
  });

  it('fails naming the failed check, and still tears the copy down', async () => {
    const fc = await env.cluster();
    fc.on('runDrillChecks', () => ({
      checks: [{ name: 'orders not empty', kind: 'assertion', ok: false, severity: 'error', actual: '0', expected: '> 0' }],
      seconds: 1,
    }));
    const handle = await start(fc);
    const failure = await failureOf(handle);
    const dir = scratchDir(fc);

    expect(failure.type).toBe('DrillFailedError');
    expect(failure.message).toContain('orders not empty');
    expect(drillTeardowns(fc, handle.workflowId).map((c) => c.input.dataDir)).toEqual([dir]);
    expect(fc.dirs.has(dir)).toBe(false);
    const stored = fc.callsOf('storeDrillReport')[0]!.input.report as DrillReport;
    expect(stored.ok).toBe(false);
    expect(stored.restores[0]!.teardown).toEqual({ removed: true });
  });

  it('when the checks themselves break, the copy is still torn down', async () => {
    const fc = await env.cluster();
    fc.on('runDrillChecks', fail('could not connect to the scratch copy'));
    const handle = await start(fc);
    const failure = await failureOf(handle);
    const dir = scratchDir(fc);

    expect(failure.message).toBe('could not connect to the scratch copy');
    expect(drillTeardowns(fc, handle.workflowId).map((c) => c.input.dataDir)).toEqual([dir]);
    expect(fc.dirs.has(dir)).toBe(false);
  });

  it('when the restore fails, the child restore cleans up its own work and the drill only confirms the directory is gone', async () => {
    const fc = await env.cluster();
    fc.on('verifyRestoredBackup', fail('pg_verifybackup: "base/1/1259" has checksum mismatch'));
    const handle = await start(fc);
    const failure = await failureOf(handle);
    const dir = scratchDir(fc);

    expect(failure.type).toBe('DrillFailedError');
    expect(failure.message).toContain(`restore of backup ${BACKUP.id} failed: pg_verifybackup: "base/1/1259" has checksum mismatch`);
    // The child's cleanup removed it; the drill removed nothing it did not see restored.
    const cleanups = fc.callsOf('cleanupRestore');
    expect(cleanups.map((c) => [c.workflowId.split('/')[0], c.input.dataDir])).toEqual([['pitrRestore', dir]]);
    expect(drillTeardowns(fc, handle.workflowId)).toEqual([]);
    expect(
      fc
        .callsOf('inspectDestination')
        .filter((c) => c.workflowId === handle.workflowId)
        .map((c) => c.input.dataDir),
    ).toEqual([dir]);
    expect(fc.dirs.has(dir)).toBe(false);
    expect((fc.callsOf('storeDrillReport')[0]!.input.report as DrillReport).restores[0]!.teardown).toEqual({ removed: true });
  });

  it('cancelled while checking, tears the copy down and ends cancelled', async () => {
    const fc = await env.cluster();
    fc.on('runDrillChecks', blockUntilCancelled);
    const handle = await start(fc);
    await fc.called('runDrillChecks');
    const dir = scratchDir(fc);
    expect(fc.dirs.get(dir)).toEqual({ state: 'pgData', running: true });
    await handle.cancel();

    expect(await cancelled(handle)).toBe(true);
    expect(drillTeardowns(fc, handle.workflowId).map((c) => c.input.dataDir)).toEqual([dir]);
    expect(fc.dirs.has(dir)).toBe(false);
  });

  it('cancelled while its restore replays, the child cleans up and the drill confirms the copy is gone', async () => {
    const fc = await env.cluster();
    fc.on('awaitRecoveryTarget', blockUntilCancelled);
    const handle = await start(fc);
    await fc.called('awaitRecoveryTarget');
    const dir = scratchDir(fc);
    await handle.cancel();

    expect(await cancelled(handle)).toBe(true);
    expect(fc.callsOf('cleanupRestore').map((c) => [c.workflowId.split('/')[0], c.input.dataDir])).toEqual([['pitrRestore', dir]]);
    expect(
      fc
        .callsOf('inspectDestination')
        .filter((c) => c.workflowId === handle.workflowId)
        .map((c) => c.input.dataDir),
    ).toEqual([dir]);
    expect(fc.dirs.has(dir)).toBe(false);
  });

  it('proves every backup in turn: the newest each time, plus the oldest not proven inside the proof window', async () => {
    const fc = await env.cluster();
    // Four good backups, oldest first; b1 was proven 40 days ago, outside the 31-day window.
    const backups = ['20260101T000000000Z', '20260102T000000000Z', '20260103T000000000Z', '20260104T000000000Z'].map((id) => ({
      ...BACKUP,
      id,
    }));
    const continuity = fc.defaultOf('walContinuity');
    fc.on('walContinuity', async (i, c) => ({ ...((await continuity(i, c)) as object), backups }));
    const longAgo = new Date(Date.now() - 40 * 86_400_000).toISOString();
    fc.drillReports.push({
      ...({} as DrillReport),
      id: '20250101T000000000Z',
      finishedAt: longAgo,
      restores: [{ backupId: backups[0]!.id, restore: {} as never, error: null, checks: [] } as never],
    });

    const restored: string[][] = [];
    for (let i = 0; i < 4; i++) {
      const report = (await (await start(fc)).result()) as DrillReport;
      expect(report.ok).toBe(true);
      restored.push(report.restores.map((r) => `${r.role}:${r.backupId.slice(6, 8)}`));
    }
    expect(restored).toEqual([
      ['newest:04', 'older:01'],
      ['newest:04', 'older:02'],
      ['newest:04', 'older:03'],
      // Every backup proven inside the window: only the newest.
      ['newest:04'],
    ]);
    // The older ones at their own point, checked for integrity only (the assertions describe today's data).
    const checks = fc.callsOf('runDrillChecks').map((c) => c.input.integrityOnly ?? false);
    expect(checks).toEqual([false, true, false, true, false, true, false]);
    const targets = fc.callsOf('writeRecoverySettings').map((c) => JSON.stringify(c.input.target ?? c.input));
    expect(targets.filter((t) => t.includes('immediate'))).toHaveLength(3);
    const coverage = drillCoverage(
      backups.map((b) => b.id),
      proofsFrom(fc.drillReports),
      new Date(),
      31,
    );
    expect(coverage).toMatchObject({ backups: 4, proven: 4, ratio: 1, unproven: [] });
  });
});
