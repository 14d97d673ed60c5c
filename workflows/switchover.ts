/**
 * switchover: moves the primary role to a streaming standby with no lost transaction.
 *
 *  1. preconditions on fresh probes, inside the cluster lock (lag, timeline, archive health),
 *     judged once: a caller that asked startVerdictUpdate answers 202, 409, 412 or 422 from them;
 *  2. PgBouncer PAUSE: clients wait instead of failing;
 *  3. (a CHECKPOINT before the pause, so this is short) stop the primary (fast), read its
 *     shutdown checkpoint; the candidate must replay past it, else roll back (old primary
 *     restarted, PgBouncer resumed);
 *  4. promote the candidate (the point of no return); synchronous_standby_names follows;
 *  5. PgBouncer points at the new primary, RELOAD, RESUME (clients flow again);
 *  6. the old primary rejoins as a standby (pg_rewind when needed; streaming first, the archive
 *     once it streams) while the other standbys follow;
 *  7. the new timeline's history file archived, the cluster verified, a backup started.
 *
 * Clients are resumed right after promotion, before the old primary rejoins: rejoining
 * takes seconds and writes do not need it. Patroni-managed clusters: Patroni switches over
 * (POST /switchover); pgdr pauses and repoints PgBouncer around it and verifies.
 */
import {
  CancellationScope,
  ParentClosePolicy,
  defineQuery,
  isCancellation,
  patched,
  setHandler,
  startChild,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import { NodeIsPrimaryError, ReplicationPreconditionError, SwitchoverRolledBackError, toApplicationFailure } from '../domain/errors.js';
import { judgeSwitchover, swapSyncNames, type SwitchoverReport } from '../domain/replication.js';
import { summarizeCluster } from '../domain/status.js';
import { PgdrCluster, PgdrProcedure, WORKFLOW_ID_NONCE_LENGTH, historyFileName, legacyWorkflowId, workflowId } from '../domain/naming.js';
import { isRefused, verdictGate, withClusterLock, type Refused, type VerdictGate } from './lock.js';
import { awaitControl, awaitStorage, fenceStep, longTool, nodeTask, patroniRequest, storageOp } from './profiles.js';
import { childSummary, showSteps } from './uiDetails.js';
import { probeNodes, rootMessage, type NodeAgent } from './probe.js';
import { controlActivities, nodeActivities } from './activityProxies.js';
import type { ControlActivities } from '../activities/control.js';
import { backup, type BackupInput } from './backup.js';

/** How long a switchover lets the old primary's archiver catch up before pausing clients. */
const ARCHIVER_DRAIN_SECONDS = 10;
/** How long the candidate may take to replay the CHECKPOINT written just before the fence. */
const LIVENESS_SECONDS = 10;
/** How long a rejoining node may take to stream without restore_command before it gets it back. */
const STREAM_FIRST_SECONDS = 30;

export interface SwitchoverInput {
  cluster: string;
  candidate: string;
  nodes: NodeAgent[];
  /** Slot name of every node, for the slots the new primary needs. */
  slots: Record<string, string>;
  maxLagBytes: number;
  confirmTimeoutSeconds: number;
  pauseTimeoutSeconds: number;
  /** Queue of the agent on PgBouncer's host, when the cluster has a PgBouncer. */
  pgbouncerQueue: string | null;
  /** Patroni-managed: switch over through its REST API. */
  patroni: { timeoutSeconds: number } | null;
  /** Rejoined standbys count as caught up at this lag, within this time. */
  rejoinMaxLagBytes: number;
  catchUpTimeoutSeconds: number;
  historyTimeoutSeconds: number;
  /** Started after the switchover (its own workflow, after the lock is released); null: none. */
  backupAfter: BackupInput | null;
  trigger: string;
}

export interface SwitchoverProgress {
  step: string;
  oldPrimary: string | null;
  candidate: string;
  pointOfNoReturn: boolean;
}

export const switchoverProgressQuery = defineQuery<SwitchoverProgress>('progress');

/** The start verdict's facts, once the switchover holds the lock and its preconditions hold. */
export interface SwitchoverVerdictFacts {
  oldPrimary: string;
  candidate: string;
  candidateLagBytes: number | null;
}

export async function switchover(input: SwitchoverInput): Promise<SwitchoverReport | Refused> {
  const progress: SwitchoverProgress = {
    step: 'waiting for the cluster lock',
    oldPrimary: null,
    candidate: input.candidate,
    pointOfNoReturn: false,
  };
  showSteps(progress);
  setHandler(switchoverProgressQuery, () => progress);
  const gate = verdictGate<SwitchoverVerdictFacts>();
  const report = await withClusterLock(
    input.cluster,
    () => (input.patroni ? viaPatroni(input, progress, gate) : direct(input, progress, gate)),
    gate,
  );
  if (isRefused(report)) return report;
  // 8. A fresh backup of the new primary: its own workflow, which takes the lock itself.
  if (input.backupAfter) {
    // uuid4 is the sandbox's seeded one: the same nonce on replay.
    const id = patched('unique-workflow-ids')
      ? workflowId('backup', input.cluster, new Date(), uuid4().replace(/-/g, '').slice(0, WORKFLOW_ID_NONCE_LENGTH))
      : legacyWorkflowId('backup', input.cluster, new Date());
    await startChild(backup, {
      workflowId: id,
      args: [input.backupAfter],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: PgdrCluster, value: input.cluster },
        { key: PgdrProcedure, value: 'backup' },
      ],
      ...childSummary('backup', input.cluster, input.backupAfter),
    });
    report.backupWorkflowId = id;
  }
  const { storeSwitchoverReport } = controlActivities(storageOp);
  await storeSwitchoverReport({ report });
  progress.step = 'done';
  return report;
}

interface Context {
  input: SwitchoverInput;
  progress: SwitchoverProgress;
  gate: VerdictGate<SwitchoverVerdictFacts>;
  t0: number;
  startedAt: string;
  queueOf(node: string): string;
}

/** Step 1, shared: judge on fresh probes; returns the primary and its synchronous_standby_names. */
async function preconditions(ctx: Context): Promise<{ primary: string; syncNames: string; timeline: number | null; seconds: number }> {
  const { input } = ctx;
  const { readWalCheck } = controlActivities(storageOp);
  ctx.progress.step = 'checking preconditions';
  let judged: [Awaited<ReturnType<typeof probeNodes>>, Awaited<ReturnType<ControlActivities['readWalCheck']>>];
  try {
    judged = await Promise.all([probeNodes(input.cluster, input.nodes), readWalCheck({ cluster: input.cluster })]);
  } catch (err) {
    return ctx.gate.refuse(err);
  }
  const [outcomes, lastCheck] = judged;
  const verdict = judgeSwitchover(summarizeCluster(input.cluster, outcomes), input.candidate, input.maxLagBytes, lastCheck, new Date());
  if (verdict.invalid.length) return ctx.gate.refuse(new NodeIsPrimaryError(input.cluster, input.candidate, verdict.invalid.join('; ')));
  if (verdict.unmet.length || !verdict.primary)
    return ctx.gate.refuse(new ReplicationPreconditionError(input.cluster, 'switchover', verdict.unmet));
  ctx.progress.oldPrimary = verdict.primary;
  ctx.gate.pass({ oldPrimary: verdict.primary, candidate: input.candidate, candidateLagBytes: verdict.facts.candidateLagBytes });
  return {
    primary: verdict.primary,
    syncNames: verdict.facts.synchronousStandbyNames,
    timeline: verdict.facts.timeline,
    seconds: (Date.now() - ctx.t0) / 1000,
  };
}

function context(input: SwitchoverInput, progress: SwitchoverProgress, gate: VerdictGate<SwitchoverVerdictFacts>): Context {
  return {
    input,
    progress,
    gate,
    t0: Date.now(),
    startedAt: new Date().toISOString(),
    queueOf: (n) => input.nodes.find((x) => x.name === n)!.taskQueue,
  };
}

async function direct(
  input: SwitchoverInput,
  progress: SwitchoverProgress,
  gate: VerdictGate<SwitchoverVerdictFacts>,
): Promise<SwitchoverReport> {
  const ctx = context(input, progress, gate);
  const { cluster, candidate } = input;
  const pre = await preconditions(ctx);
  const old = pre.primary;
  const oldFence = nodeActivities(old, ctx.queueOf(old), fenceStep);
  const candFence = nodeActivities(candidate, ctx.queueOf(candidate), fenceStep);
  const candWait = nodeActivities(candidate, ctx.queueOf(candidate), longTool);
  const { pgbouncerAdmin } = controlActivities(fenceStep);
  const warnings: string[] = [];

  // 2a. Before clients wait: a CHECKPOINT, so the shutdown checkpoint has little left to
  //     write, and the slots the other nodes will stream from, on the candidate (a standby
  //     may hold physical slots; they are there the moment it is promoted).
  progress.step = `CHECKPOINT on ${old}`;
  await oldFence.checkpoint();
  // 2b. Is the candidate replaying the primary's WAL right now? A stream cut moments ago still
  //     looks alive for up to wal_sender_timeout, so the preconditions pass, and the fence would
  //     only find out with clients paused (the old primary's fast shutdown waits for the
  //     unreachable walsender, then the rollback). The CHECKPOINT just written must reach the
  //     candidate within LIVENESS_SECONDS, or the switchover stops here: nothing paused, nothing
  //     stopped. (patched: histories recorded before this step replay without it.)
  if (patched('candidate-liveness-before-pause')) {
    progress.step = `${candidate}: replaying ${old}'s newest WAL?`;
    const lsn = (await oldFence.probeNode()).currentLsn;
    if (!lsn)
      throw toApplicationFailure(
        new ReplicationPreconditionError(cluster, 'switchover', [
          `${old} gave no WAL position (pg_current_wal_lsn) after its CHECKPOINT, so ${candidate}'s replay could not be checked; nothing was paused or stopped`,
        ]),
      );
    const live = await candWait.awaitReplayed({
      lsn,
      timeoutSeconds: LIVENESS_SECONDS,
      what: `the end of ${old}'s WAL after its CHECKPOINT`,
      endOfWal: true,
    });
    if (!live.ok)
      throw toApplicationFailure(
        new ReplicationPreconditionError(cluster, 'switchover', [
          `candidate ${candidate} is not replaying ${old}'s WAL now: ${live.reason}; its stream may be cut (it looks alive for up to wal_sender_timeout); nothing was paused or stopped`,
        ]),
      );
  }
  const newP = nodeActivities(candidate, ctx.queueOf(candidate), nodeTask);
  for (const n of input.nodes) if (n.name !== candidate) await newP.ensureSlot({ slot: input.slots[n.name]! });
  // Promotion probes the archive for the next timeline's history (and for WAL) through
  // restore_command: each miss costs a `wal fetch` while clients wait. pgdr checks that
  // timeline itself, and the candidate streams, so restore_command is off for the fence.
  const { awaitArchived } = controlActivities(storageOp);
  let restoreCommand: { previous: string | null } | null = null;
  if (pre.timeline !== null && !(await awaitArchived({ cluster, name: historyFileName(pre.timeline + 1), timeoutSeconds: 0 })).ok) {
    restoreCommand = await newP.setRestoreCommand({ mode: 'off' });
  }

  // The fast shutdown archives every waiting segment (one archive_command each) while
  // clients are paused: let the archiver catch up first. Bounded: under load WAL keeps coming.
  // Best effort: only the pause's length depends on it, and a failure here must not leave the
  // candidate's restore_command off (the fence below rolls back; this is before it).
  // (patched: histories recorded before this step replay without it.)
  if (patched('drain-archiver-before-pause')) {
    progress.step = `${old}: waiting for the archiver to catch up`;
    await oldFence
      .awaitArchiverIdle({ timeoutSeconds: ARCHIVER_DRAIN_SECONDS })
      .catch((e) => void warnings.push(`archiver of ${old} not drained before the pause: ${rootMessage(e)}`));
  }

  // 2-4. The fence. Until the candidate is promoted, any failure (or a cancel) rolls back.
  const f0 = Date.now();
  let paused = false;
  let pausedAt = 0;
  let oldStopped = false;
  let promoteTried = false;
  let checkpointLsn: string | null = null;
  let newTimeline: number | null = null;
  try {
    if (input.pgbouncerQueue) {
      progress.step = 'pgbouncer: PAUSE (clients wait)';
      pausedAt = Date.now();
      await pgbouncerAdmin({ cluster, command: 'PAUSE', timeoutSeconds: input.pauseTimeoutSeconds });
      paused = true;
    }
    progress.step = `stopping ${old} (fast)`;
    oldStopped = true;
    const { control } = await oldFence.stopAndReadControl();
    if (control.state !== 'shut down')
      throw rollbackReason(`${old} did not shut down cleanly (pg_controldata state "${control.state}", expected "shut down")`);
    checkpointLsn = control.checkpointLsn;
    progress.step = `waiting until ${candidate} replayed the shutdown checkpoint ${checkpointLsn}`;
    const replayed = await candWait.awaitReplayed({ lsn: checkpointLsn, timeoutSeconds: input.confirmTimeoutSeconds });
    if (!replayed.ok) throw rollbackReason(replayed.reason ?? 'the candidate did not replay the shutdown checkpoint');
    progress.step = `promoting ${candidate}`;
    promoteTried = true;
    const promoted = await candFence.promote();
    if (!promoted.promoted) throw rollbackReason(`${candidate} was not promoted: ${promoted.detail}`);
    newTimeline = promoted.timeline;
    progress.pointOfNoReturn = true;
  } catch (err) {
    progress.step = 'rolling back';
    const reason = err instanceof RollbackReason ? err.message : isCancellation(err) ? 'cancelled' : rootMessage(err);
    await CancellationScope.nonCancellable(async () => {
      // A candidate that may have received the promote request is fenced: two primaries must never run.
      if (promoteTried)
        await candFence
          .stopServer({ mode: 'immediate' })
          .catch((e) => void warnings.push(`could not stop ${candidate}: ${rootMessage(e)}`));
      if (oldStopped) await oldFence.startServer();
      if (restoreCommand && !promoteTried)
        await newP.setRestoreCommand({ mode: 'restore', previous: restoreCommand.previous }).catch(() => undefined);
      if (input.pgbouncerQueue) await pgbouncerAdmin({ cluster, command: 'RESUME', timeoutSeconds: input.pauseTimeoutSeconds });
    });
    throw toApplicationFailure(
      new SwitchoverRolledBackError(
        cluster,
        candidate,
        reason + (promoteTried ? `; ${candidate} was stopped (fenced) and needs a rebuild` : ''),
        old,
      ),
    );
  }
  const fence = (Date.now() - f0) / 1000;

  // 4b-5. The new primary: synchronous names, then clients.
  const p0 = Date.now();
  if (pre.syncNames.trim()) {
    progress.step = 'synchronous_standby_names on the new primary';
    await newP.setSynchronousStandbyNames({ value: swapSyncNames(pre.syncNames, candidate, old) });
  }
  const { repointed, pauseSeconds } = await resumeClients(ctx, pausedAt, warnings);
  if (restoreCommand)
    await newP
      .setRestoreCommand({ mode: 'restore', previous: restoreCommand.previous })
      .catch((e) => void warnings.push(`restore_command on ${candidate} not put back: ${rootMessage(e)}`));
  const promote = (Date.now() - p0) / 1000;

  // 6. The old primary rejoins as a standby of the new one; the other standbys follow it, all
  //    at once. (patched: histories recorded before this replay the steps in turn.)
  const r0 = Date.now();
  const others = input.nodes.filter((n) => n.name !== old && n.name !== candidate);
  const rejoined = patched('rejoin-streaming-first')
    ? await Promise.all([rejoinOldPrimary(ctx, old, warnings), ...others.map((n) => followNewPrimary(ctx, n, warnings))])
    : await rejoinInTurn(ctx, old, warnings);
  const rejoin = (Date.now() - r0) / 1000;

  // 7. The new timeline's history file in the archive, and the cluster as it is now.
  return closingReport(
    ctx,
    {
      oldPrimary: old,
      viaPatroni: false,
      shutdownCheckpointLsn: checkpointLsn,
      newTimeline,
      pgbouncer: input.pgbouncerQueue ? { paused, repointed } : null,
      rejoined,
      pauseSeconds,
      warnings,
    },
    { preconditions: pre.seconds, fence, promote, rejoin },
  );
}

type Rejoined = SwitchoverReport['rejoined'][number];

/**
 * The old primary as a standby of the candidate. Unless pg_rewind had to rewind it, its WAL ends
 * at the shutdown checkpoint the candidate replayed, so it streams at once: it starts without
 * restore_command (each archive miss at startup costs a `wal fetch`, about 0.25 s, and commits
 * wait while a synchronous standby is missing) and gets pgdr's once it streams.
 * (`streamingFirst` false: as recorded before that, started with the archive.)
 */
async function rejoinOldPrimary(ctx: Context, old: string, warnings: string[], streamingFirst = true): Promise<Rejoined> {
  const { cluster, candidate } = ctx.input;
  const newP = nodeActivities(candidate, ctx.queueOf(candidate), nodeTask);
  const oldNode = nodeActivities(old, ctx.queueOf(old), nodeTask);
  const oldTool = nodeActivities(old, ctx.queueOf(old), longTool);
  try {
    // On Postgres 15, pg_rewind reads the source's timeline from its control file, which a
    // just-promoted server updates only at its first checkpoint: take it now.
    ctx.progress.step = `CHECKPOINT on ${candidate} (its control file shows the new timeline)`;
    await newP.checkpoint();
    ctx.progress.step = `${old}: pg_rewind against ${candidate} when needed`;
    const rw = await oldTool.rewindFrom({ source: candidate });
    ctx.progress.step = `${old}: standby of ${candidate}`;
    const streamFirst = streamingFirst && !rw.rewound;
    await oldNode.writeStandbySettings({
      primary: candidate,
      ownConfigFrom: null,
      fromArchive: !streamFirst,
      ...(streamFirst ? { streamOnly: true } : {}),
    });
    await oldNode.startServer();
    if (!streamFirst) await awaitStreamingOf(ctx, old, ctx.input.catchUpTimeoutSeconds);
    else await streamThenArchive(ctx, old, () => oldNode.setRestoreCommand({ mode: 'pgdr' }), warnings);
    return { node: old, rewound: rw.rewound, streaming: true };
  } catch (err) {
    warnings.push(`old primary ${old} did not rejoin as a standby: ${rootMessage(err)} (rebuild it: pgdr rebuild ${cluster} ${old})`);
    return { node: old, rewound: false, streaming: false };
  }
}

/**
 * Another standby follows the candidate (primary_conninfo by ALTER SYSTEM and reload). Its
 * restore_command stays: it lost its upstream with the old primary and reads the archive until
 * the reload (measured: streaming again about 1.6 s after the repoint, restore_command off or not).
 */
async function followNewPrimary(ctx: Context, node: NodeAgent, warnings: string[]): Promise<Rejoined> {
  const { candidate } = ctx.input;
  try {
    ctx.progress.step = `${node.name}: follow ${candidate}`;
    await nodeActivities(node.name, node.taskQueue, nodeTask).repointStandby({ primary: candidate });
    await awaitStreamingOf(ctx, node.name, ctx.input.catchUpTimeoutSeconds);
    return { node: node.name, rewound: false, streaming: true };
  } catch (err) {
    warnings.push(`standby ${node.name} does not stream from ${candidate}: ${rootMessage(err)}`);
    return { node: node.name, rewound: false, streaming: false };
  }
}

/**
 * Waits (up to STREAM_FIRST_SECONDS) until `node` streams from the candidate without the
 * archive, then gives it its restore_command; one that did not stream by then waits the rest of
 * the catch-up time with it (a warning says so).
 */
async function streamThenArchive(ctx: Context, node: string, restoreCommand: () => Promise<unknown>, warnings: string[]): Promise<void> {
  const first = Math.min(STREAM_FIRST_SECONDS, ctx.input.catchUpTimeoutSeconds);
  const streamed = await awaitStreamingOf(ctx, node, first).then(
    () => true,
    (e) => {
      warnings.push(
        `${node} did not stream from ${ctx.input.candidate} within ${first} s without the archive (${rootMessage(e)}); waited again with restore_command`,
      );
      return false;
    },
  );
  // A node that streams but did not get its restore_command still rejoined: say so, do not fail it.
  await restoreCommand().catch(
    (e) => void warnings.push(`restore_command on ${node} not set: ${rootMessage(e)} (it streams without the archive to fall back on)`),
  );
  if (!streamed) await awaitStreamingOf(ctx, node, ctx.input.catchUpTimeoutSeconds);
}

function awaitStreamingOf(ctx: Context, standby: string, timeoutSeconds: number): Promise<unknown> {
  const { candidate, rejoinMaxLagBytes } = ctx.input;
  return nodeActivities(candidate, ctx.queueOf(candidate), longTool).awaitStreaming({
    standby,
    maxLagBytes: rejoinMaxLagBytes,
    timeoutSeconds,
  });
}

/** Step 6 as recorded before 'rejoin-streaming-first': one node after the other, the old primary with the archive. */
async function rejoinInTurn(ctx: Context, old: string, warnings: string[]): Promise<Rejoined[]> {
  const rejoined = [await rejoinOldPrimary(ctx, old, warnings, false)];
  for (const n of ctx.input.nodes)
    if (n.name !== old && n.name !== ctx.input.candidate) rejoined.push(await followNewPrimary(ctx, n, warnings));
  return rejoined;
}

async function viaPatroni(
  input: SwitchoverInput,
  progress: SwitchoverProgress,
  gate: VerdictGate<SwitchoverVerdictFacts>,
): Promise<SwitchoverReport> {
  const ctx = context(input, progress, gate);
  const { cluster, candidate } = input;
  const pre = await preconditions(ctx);
  const old = pre.primary;
  const { pgbouncerAdmin } = controlActivities(fenceStep);
  const { patroniSwitchover } = controlActivities(patroniRequest);
  const { awaitPatroni } = controlActivities(awaitControl);
  const timeoutSeconds = input.patroni!.timeoutSeconds;
  const warnings: string[] = [];
  const f0 = Date.now();
  let pausedAt = 0;
  if (input.pgbouncerQueue) {
    progress.step = 'pgbouncer: PAUSE (clients wait)';
    pausedAt = Date.now();
    await pgbouncerAdmin({ cluster, command: 'PAUSE', timeoutSeconds: input.pauseTimeoutSeconds });
  }
  try {
    progress.step = `patroni: switchover ${old} -> ${candidate}`;
    await patroniSwitchover({ cluster, leader: old, candidate });
    progress.step = `waiting until patroni shows ${candidate} as the leader`;
    await awaitPatroni({ cluster, leader: candidate, streaming: [], maxLagBytes: input.rejoinMaxLagBytes, timeoutSeconds });
  } catch (err) {
    // Patroni refused or did not finish: clients flow again to whatever Patroni made primary.
    if (input.pgbouncerQueue)
      await CancellationScope.nonCancellable(() =>
        pgbouncerAdmin({ cluster, command: 'RESUME', timeoutSeconds: input.pauseTimeoutSeconds }),
      );
    throw err;
  }
  progress.pointOfNoReturn = true;
  const fence = (Date.now() - f0) / 1000;
  const { repointed, pauseSeconds } = await resumeClients(ctx, pausedAt, warnings);
  const r0 = Date.now();
  progress.step = 'waiting until patroni shows every other member streaming';
  const others = input.nodes.map((n) => n.name).filter((n) => n !== candidate);
  const rejoined: SwitchoverReport['rejoined'] = [];
  let members: { name: string; timeline: number | null }[] = [];
  try {
    members = (await awaitPatroni({ cluster, leader: candidate, streaming: others, maxLagBytes: input.rejoinMaxLagBytes, timeoutSeconds }))
      .members;
    for (const n of others) rejoined.push({ node: n, rewound: false, streaming: true });
  } catch (err) {
    warnings.push(`not every member streams from ${candidate}: ${rootMessage(err)}`);
    for (const n of others) rejoined.push({ node: n, rewound: false, streaming: false });
  }
  const newTimeline = members.find((m) => m.name === candidate)?.timeline ?? null;
  const rejoin = (Date.now() - r0) / 1000;
  return closingReport(
    ctx,
    {
      oldPrimary: old,
      viaPatroni: true,
      shutdownCheckpointLsn: null,
      newTimeline,
      pgbouncer: input.pgbouncerQueue ? { paused: true, repointed } : null,
      rejoined,
      pauseSeconds,
      warnings,
    },
    { preconditions: pre.seconds, fence, promote: 0, rejoin },
  );
}

type ReportParts = Pick<
  SwitchoverReport,
  'oldPrimary' | 'viaPatroni' | 'shutdownCheckpointLsn' | 'newTimeline' | 'pgbouncer' | 'rejoined' | 'pauseSeconds' | 'warnings'
>;

/** Step 7, shared: the history file archived, the cluster verified, the report. */
async function closingReport(
  ctx: Context,
  parts: ReportParts,
  phases: { preconditions: number; fence: number; promote: number; rejoin: number },
): Promise<SwitchoverReport> {
  const historyArchived = await awaitHistory(ctx, parts.newTimeline, parts.warnings);
  await verify(ctx, parts.warnings);
  return {
    formatVersion: 1,
    cluster: ctx.input.cluster,
    workflowId: workflowInfo().workflowId,
    newPrimary: ctx.input.candidate,
    ...parts,
    historyArchived,
    pauseSeconds: parts.pauseSeconds === null ? null : round(parts.pauseSeconds),
    backupWorkflowId: null,
    seconds: {
      preconditions: round(phases.preconditions),
      fence: round(phases.fence),
      promote: round(phases.promote),
      rejoin: round(phases.rejoin),
      total: round((Date.now() - ctx.t0) / 1000),
    },
    startedAt: ctx.startedAt,
    finishedAt: new Date().toISOString(),
  };
}

/** PgBouncer (if any) pointed at the candidate, RELOADed and RESUMEd: clients flow again. */
async function resumeClients(
  ctx: Context,
  pausedAt: number,
  warnings: string[],
): Promise<{ repointed: boolean; pauseSeconds: number | null }> {
  const { input, progress } = ctx;
  if (!input.pgbouncerQueue) return { repointed: false, pauseSeconds: null };
  progress.step = `pgbouncer: point at ${input.candidate}, RELOAD, RESUME`;
  let repointed = false;
  try {
    const pgbouncerNode = input.nodes.find((n) => n.taskQueue === input.pgbouncerQueue)?.name ?? 'pgbouncer';
    await nodeActivities(pgbouncerNode, input.pgbouncerQueue, fenceStep).pointPgBouncer({
      primary: input.candidate,
      timeoutSeconds: input.pauseTimeoutSeconds,
      resume: true,
    });
    repointed = true;
  } catch (err) {
    warnings.push(`pgbouncer could not be repointed to ${input.candidate}: ${rootMessage(err)}`);
    await controlActivities(fenceStep).pgbouncerAdmin({
      cluster: input.cluster,
      command: 'RESUME',
      timeoutSeconds: input.pauseTimeoutSeconds,
    });
  }
  return { repointed, pauseSeconds: (Date.now() - pausedAt) / 1000 };
}

/** The new timeline's TTTTTTTT.history in the archive (a restore across the switch needs it). */
async function awaitHistory(ctx: Context, timeline: number | null, warnings: string[]): Promise<boolean | null> {
  if (timeline === null) return null;
  const { awaitArchived } = controlActivities(awaitStorage);
  const name = historyFileName(timeline);
  ctx.progress.step = `waiting for ${name} in the archive`;
  const got = await awaitArchived({ cluster: ctx.input.cluster, name, timeoutSeconds: ctx.input.historyTimeoutSeconds });
  if (!got.ok) warnings.push(`${name} did not reach the archive within ${ctx.input.historyTimeoutSeconds} s`);
  return got.ok;
}

/** The cluster after the switchover: the candidate is the only primary, every other node follows it. */
async function verify(ctx: Context, warnings: string[]): Promise<void> {
  ctx.progress.step = 'verifying the cluster';
  const status = summarizeCluster(ctx.input.cluster, await probeNodes(ctx.input.cluster, ctx.input.nodes));
  if (status.primary !== ctx.input.candidate)
    warnings.push(`after the switchover the primary is ${status.primary ?? 'none'}, expected ${ctx.input.candidate}`);
  for (const w of status.warnings) warnings.push(`cluster status afterwards: ${w}`);
}

class RollbackReason extends Error {}

function rollbackReason(message: string): RollbackReason {
  return new RollbackReason(message);
}

function round(s: number): number {
  return Math.round(s * 100) / 100;
}
