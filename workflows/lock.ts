/**
 * One mutating procedure per cluster. The lock is a child workflow with the fixed id
 * lock/<cluster>: Temporal refuses a second start of a running workflow id, which makes
 * acquiring atomic, and the TERMINATE parent-close policy frees it if the holder dies.
 *
 * The API starts a mutating procedure with update-with-start of lockVerdictUpdate and answers
 * from the verdict (202 held, 409 busy), so two racing requests cannot both get a 202 however
 * many API processes run. A run whose caller asked for the verdict and lost ends completed with
 * a Refused outcome: its caller already answered 409, so the run is not a failure. A run nobody
 * asked (a schedule, a direct start) still fails with ClusterBusyError.
 *
 * Procedures that judge preconditions before they change anything (restore, rebuild,
 * switchover) answer startVerdictUpdate instead: once they hold their locks AND have judged,
 * with the facts the caller names in its 202, or with the refusal (busy, or every problem).
 */
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  defineSignal,
  defineUpdate,
  patched,
  setHandler,
  startChild,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ClusterBusyError, PgdrError, toApplicationFailure } from '../domain/errors.js';
import { PgdrCluster, PgdrProcedure, lockWorkflowId } from '../domain/naming.js';
import { childSummary } from './uiDetails.js';
import { temporalOp } from './profiles.js';
import { controlActivities } from './activityProxies.js';

export const releaseSignal = defineSignal('release');

/** What a procedure's start learned about the cluster lock. */
export type LockVerdict = { acquired: true } | { acquired: false; runningWorkflowId: string };

/** Answers once the procedure has tried the cluster lock. */
export const lockVerdictUpdate = defineUpdate<LockVerdict>('lockVerdict');

/** Why a procedure refused to start, as its caller answers it: the pgdr error's class, code, message and values. */
export interface Refusal {
  type: string;
  code: string;
  message: string;
  context: Record<string, string | number | boolean | null>;
}

/** What a judged procedure's start learned: its locks held and its preconditions met (with the plan's facts), or why not. */
export type StartVerdict<F = Record<string, unknown>> = { ok: true; facts: F } | { ok: false; refusal: Refusal };

/** Answers once the procedure holds its locks and has judged its preconditions. */
export const startVerdictUpdate = defineUpdate<StartVerdict<unknown>>('startVerdict');

/**
 * The workflow's side of startVerdictUpdate. Created before the first await (update-with-start
 * delivers the update in the first task). Answering changes no command: a run nobody asked
 * (a drill's child, a schedule, an older history) runs exactly as before.
 */
export class VerdictGate<F> {
  private verdict: StartVerdict<F> | undefined;
  private pending: Refusal | undefined;
  private asked_ = false;
  /** The run holds the cluster lock: a refusal is answered only once the lock is free again. */
  lockHeld = false;

  constructor() {
    setHandler(startVerdictUpdate, async () => {
      this.asked_ = true;
      await condition(() => this.verdict !== undefined);
      return this.verdict!;
    });
  }

  /** A caller asked for the verdict. */
  get asked(): boolean {
    return this.asked_;
  }

  /** Locks held, preconditions met: the caller answers 202 with these facts. */
  pass(facts: F): void {
    this.verdict ??= { ok: true, facts };
  }

  /** The cluster lock is busy: answered as CLUSTER_BUSY (withClusterLock ends the run). */
  busy(err: ClusterBusyError): void {
    this.verdict ??= { ok: false, refusal: refusalOf(err) };
  }

  /**
   * Refuses with err (a pgdr error, or any failure before the verdict), then throws it as the
   * run's failure. A caller that asked gets it once it is true that nothing holds on: inside
   * the cluster lock, withClusterLock answers after the lock is released.
   */
  async refuse(err: unknown): Promise<never> {
    if (this.asked_ && this.verdict === undefined) {
      this.pending ??= refusalOf(err);
      if (!this.lockHeld) await this.answerRefusal();
    }
    throw toApplicationFailure(err);
  }

  /** A refusal waiting for the lock's release: true when there is one to answer. */
  get refusing(): boolean {
    return this.pending !== undefined && this.verdict === undefined;
  }

  /** Answers the pending refusal and waits until the caller has it (even in a cancelled run). */
  async answerRefusal(): Promise<void> {
    if (!this.pending) return;
    this.verdict ??= { ok: false, refusal: this.pending };
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  }
}

export function verdictGate<F>(): VerdictGate<F> {
  return new VerdictGate<F>();
}

/** A refusal from a pgdr error, or from the pgdr error under a failed activity; anything else is INTERNAL. */
export function refusalOf(err: unknown): Refusal {
  if (err instanceof PgdrError) return { type: err.name, code: err.code, message: err.message, context: clean(err.context) };
  let cur = err as { cause?: unknown } | undefined;
  for (let depth = 0; cur && depth < 8; cur = cur.cause as typeof cur, depth++) {
    const details = cur instanceof ApplicationFailure ? (cur.details?.[0] as { code?: unknown } | undefined) : undefined;
    if (cur instanceof ApplicationFailure && typeof details?.code === 'string') {
      const { code, ...context } = details as Record<string, unknown> & { code: string };
      return { type: cur.type ?? 'ApplicationFailure', code, message: cur.message, context: clean(context) };
    }
  }
  let root = err as { message?: string; cause?: unknown } | undefined;
  while (root?.cause) root = root.cause as typeof root;
  return { type: err instanceof Error ? err.name : 'Error', code: 'INTERNAL', message: root?.message ?? String(err), context: {} };
}

function clean(context: Record<string, unknown>): Refusal['context'] {
  const out: Refusal['context'] = {};
  for (const [k, v] of Object.entries(context))
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v as string | number | boolean | null;
  return out;
}

/** The outcome of a run that lost the lock race after its caller was told so. */
export interface Refused {
  /** "busy with <workflow id>" */
  refused: string;
  code: 'CLUSTER_BUSY';
  cluster: string;
  runningWorkflowId: string;
}

export function isRefused(x: unknown): x is Refused {
  return typeof x === 'object' && x !== null && (x as Refused).code === 'CLUSTER_BUSY' && typeof (x as Refused).refused === 'string';
}

/** The result of a run that was not refused; a refusal becomes the ClusterBusyError it stands for. */
export function unlessRefused<T>(result: T | Refused): T {
  if (isRefused(result)) throw toApplicationFailure(new ClusterBusyError(result.cluster, result.runningWorkflowId));
  return result;
}

/** The lock itself: holds until released, or until its holder closes. */
export async function clusterLock(_input: { cluster: string; holder: string }): Promise<void> {
  let released = false;
  setHandler(releaseSignal, () => void (released = true));
  await condition(() => released);
}

/**
 * Runs fn holding the cluster's lock; a busy cluster fails fast, naming the holder, or, when a
 * caller asked lockVerdictUpdate (or the gate's startVerdictUpdate), returns Refused once the
 * caller has the verdict.
 */
export async function withClusterLock<T>(cluster: string, fn: () => Promise<T>, gate?: VerdictGate<unknown>): Promise<T | Refused> {
  // Registered before the first await: update-with-start delivers the update in the first task.
  let verdict: LockVerdict | undefined;
  let asked = false;
  setHandler(lockVerdictUpdate, async () => {
    asked = true;
    await condition(() => verdict !== undefined);
    return verdict!;
  });
  const lock = await takeLock(lockWorkflowId(cluster), cluster);
  if (!lock) {
    const { lockHolder } = controlActivities(temporalOp);
    const running = (await lockHolder({ cluster })) ?? 'another workflow';
    verdict = { acquired: false, runningWorkflowId: running };
    const busy = new ClusterBusyError(cluster, running);
    gate?.busy(busy);
    if ((asked || gate?.asked) && patched('busy-refusal')) {
      // The caller answered 409 from the verdict; wait until it has it, then end without a failure.
      await condition(allHandlersFinished);
      return { refused: `busy with ${running}`, code: 'CLUSTER_BUSY', cluster, runningWorkflowId: running };
    }
    throw toApplicationFailure(busy);
  }
  verdict = { acquired: true };
  if (!gate) return holding(lock, fn);
  gate.lockHeld = true;
  try {
    return await holding(lock, fn);
  } catch (err) {
    // Refused inside the lock: the caller is answered once the lock has closed, so its next
    // request never finds this refused run still holding the cluster.
    if (gate.refusing) {
      await CancellationScope.nonCancellable(() => lock.result()).catch(() => undefined);
      await gate.answerRefusal();
    }
    throw err;
  }
}

/** Which lock a clusterLock run is: its PgdrProcedure value, so the UI can list a cluster's locks. */
export type LockKind = 'clusterLock' | 'destinationLock';

/**
 * How a lock shows in the Temporal UI: the cluster's search attributes (PgdrProcedure is the
 * lock kind, so counting a procedure's runs never counts its locks) and a summary naming its
 * holder. Replay compares neither, so runs that took a lock without them replay unchanged.
 */
function lockShownAs(cluster: string, what: { kind: LockKind; dir?: string }) {
  return {
    typedSearchAttributes: [
      { key: PgdrCluster, value: cluster },
      { key: PgdrProcedure, value: what.kind },
    ],
    ...childSummary(what.kind, cluster, what.dir ? { dir: what.dir } : {}),
  };
}

/**
 * Starts the lock workflow `lockId` held by this workflow, or null when another run holds it.
 * Cancelling the holder must not cancel the lock under it (ABANDON): the holder's cleanup still
 * runs inside the lock, and then releases it; TERMINATE frees it if the holder dies.
 */
export async function takeLock(
  lockId: string,
  cluster: string,
  what: { kind: LockKind; dir?: string } = { kind: 'clusterLock' },
): Promise<ChildWorkflowHandle<typeof clusterLock> | null> {
  const holder = workflowInfo().workflowId;
  try {
    return await startChild(clusterLock, {
      workflowId: lockId,
      args: [{ cluster, holder }],
      parentClosePolicy: ParentClosePolicy.TERMINATE,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      memo: { holder },
      ...lockShownAs(cluster, what),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return null;
    throw err;
  }
}

/** Runs fn, then releases the lock; a lock already gone (terminated by hand) needs nothing. */
export async function holding<T>(lock: ChildWorkflowHandle<typeof clusterLock>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(async () => {
      await lock.signal(releaseSignal);
      // Closed before the holder goes on: a procedure started as this run ends finds the lock
      // free, and the run's completion no longer races the lock's (the server rejected that
      // workflow task as UnhandledCommand, about 60 ms a run). Runs without the marker did not wait.
      if (patched('await-lock-close')) await lock.result();
    }).catch(() => undefined);
  }
}
