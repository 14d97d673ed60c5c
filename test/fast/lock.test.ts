/**
 * The cluster lock (workflows/lock.ts) and the API's update-with-start verdict on it
 * (control/procedures.ts startLockedProcedure): one mutating procedure per cluster; a second is
 * refused busy, naming the holder, without touching anything; the lock is free again after the
 * holder succeeds, fails or is cancelled.
 */
import { describe, expect, it } from 'vitest';
import { switchoverInput } from '../../control/inputs.js';
import { startLockedProcedure } from '../../control/procedures.js';
import { holderOf, lastHolderOf } from '../../adapters/temporal.js';
import { ClusterBusyError } from '../../domain/errors.js';
import { lockWorkflowId } from '../../domain/naming.js';
import type { SwitchoverReport } from '../../domain/replication.js';
import { switchover } from '../../workflows/switchover.js';
import { isRefused } from '../../workflows/lock.js';
import { useFastEnv } from './helpers/env.js';
import { blockUntilCancelled, fail, type FakeCluster } from './helpers/fakeCluster.js';
import { cancelled, failureOf } from './helpers/outcome.js';

const env = useFastEnv();

const input = (fc: FakeCluster, candidate = 'b') => switchoverInput(fc.config, fc.name, candidate, {}, 'fast-test');

/** Starts a switchover as the API does: update-with-start, answered from the lock verdict. */
function apiStart(fc: FakeCluster, suffix: string, candidate = 'b') {
  return startLockedProcedure(
    { config: fc.config, temporal: env.client, lockVerdictWaitMs: 60_000 },
    'switchover',
    fc.name,
    switchover,
    [input(fc, candidate)],
    {
      workflowId: fc.workflowId('switchover', suffix),
    },
  );
}

/** Activities a run scheduled besides the lock's own bookkeeping. */
function workOf(fc: FakeCluster, workflowId: string): string[] {
  return fc.calls.filter((c) => c.workflowId === workflowId && c.name !== 'lockHolder').map((c) => c.name);
}

describe('the cluster lock with stub agents', () => {
  it('refuses a second procedure on the cluster while one holds the lock: 409-style verdict, refused outcome, nothing touched', async () => {
    const fc = await env.cluster();
    fc.on('checkpoint', blockUntilCancelled);
    const first = await apiStart(fc, 'first');
    expect(first.lock).toBe('held');
    await fc.called('checkpoint');
    expect(await fc.lockHolder()).toBe(first.workflowId);

    // As the API: the verdict says busy, naming the holder.
    const refusal = await apiStart(fc, 'second').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(ClusterBusyError);
    expect((refusal as ClusterBusyError).message.split('\n')[0]).toBe(`cluster "${fc.name}" is busy with ${first.workflowId}`);
    // The refused run ends completed (its caller already answered 409), refused, having done nothing.
    const second = env.client.workflow.getHandle(fc.workflowId('switchover', 'second'));
    const outcome = await second.result();
    expect(isRefused(outcome)).toBe(true);
    expect(outcome).toMatchObject({ code: 'CLUSTER_BUSY', runningWorkflowId: first.workflowId, refused: `busy with ${first.workflowId}` });
    expect((await second.describe()).status.name).toBe('COMPLETED');
    expect(workOf(fc, second.workflowId)).toEqual([]);

    // Started directly (a schedule: nobody asked for the verdict), it fails busy instead.
    const direct = await fc.start<typeof switchover>('switchover', [input(fc)], 'direct');
    const failure = await failureOf(direct);
    expect(failure.type).toBe('ClusterBusyError');
    expect(failure.message.split('\n')[0]).toBe(`cluster "${fc.name}" is busy with ${first.workflowId}`);
    expect(workOf(fc, direct.workflowId)).toEqual([]);

    // The holder is still the first run.
    expect(await fc.lockHolder()).toBe(first.workflowId);
    await first.handle.cancel();
    expect(await cancelled(first.handle)).toBe(true);
    expect(await fc.lockRelease()).toBe('released');
  });

  it('names the winner even when the winner has finished before the loser asks who holds the lock', async () => {
    const fc = await env.cluster();
    fc.on('checkpoint', blockUntilCancelled);
    const first = await apiStart(fc, 'first');
    await fc.called('checkpoint');
    // The loser asks only after the winner has ended and its lock closed (a quick expire did this under load).
    fc.on('lockHolder', async () => {
      await first.handle.cancel();
      await first.handle.result().catch(() => undefined);
      expect(await fc.lockRelease()).toBe('released');
      expect(await holderOf(env.client, lockWorkflowId(fc.name))).toBeNull();
      return lastHolderOf(env.client, lockWorkflowId(fc.name));
    });
    const refusal = await apiStart(fc, 'second').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(ClusterBusyError);
    expect((refusal as ClusterBusyError).message.split('\n')[0]).toBe(`cluster "${fc.name}" is busy with ${first.workflowId}`);
    const outcome = await env.client.workflow.getHandle(fc.workflowId('switchover', 'second')).result();
    expect(outcome).toMatchObject({ code: 'CLUSTER_BUSY', runningWorkflowId: first.workflowId });
  });

  it('is free again after the holder fails, is cancelled, and succeeds: each next start gets it', async () => {
    const fc = await env.cluster();

    // 1. Fails: promote breaks, the switchover rolls back.
    fc.on('promote', fail('pg_promote timed out'));
    const failing = await apiStart(fc, 'fails');
    expect(failing.lock).toBe('held');
    expect((await failureOf(failing.handle)).type).toBe('SwitchoverRolledBackError');
    expect(await fc.lockRelease()).toBe('released');
    expect(await fc.lockHolder()).toBeNull();
    // The rollback fenced b (stopped); an operator rebuilds it before the next try.
    expect(fc.nodes.get('b')).toEqual({ role: 'standby', running: false });
    fc.nodes.get('b')!.running = true;

    // 2. Cancelled while it still checkpoints (before the fence).
    fc.off('promote').on('checkpoint', blockUntilCancelled);
    const cancelledRun = await apiStart(fc, 'cancelled');
    expect(cancelledRun.lock).toBe('held');
    await fc.called('checkpoint', { workflowId: cancelledRun.workflowId });
    await cancelledRun.handle.cancel();
    expect(await cancelled(cancelledRun.handle)).toBe(true);
    expect(await fc.lockRelease()).toBe('released');
    expect(await fc.lockHolder()).toBeNull();

    // 3. Succeeds.
    fc.off('checkpoint');
    const ok = await apiStart(fc, 'succeeds');
    expect(ok.lock).toBe('held');
    expect(((await ok.handle.result()) as SwitchoverReport).newPrimary).toBe('b');
    expect(await fc.lockRelease()).toBe('released');
    expect(await fc.lockHolder()).toBeNull();

    // And once more (back to a, now a standby): free, so the next start holds it at once.
    fc.on('checkpoint', blockUntilCancelled);
    const next = await apiStart(fc, 'next', 'a');
    expect(next.lock).toBe('held');
    await fc.called('checkpoint', { where: 'b', workflowId: next.workflowId });
    expect(await fc.lockHolder()).toBe(next.workflowId);
  });
});
