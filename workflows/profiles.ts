/**
 * Activity option profiles: every timeout, heartbeat and retry rule lives here, named for
 * the kind of work. Workflows pick a profile and never write inline timeouts.
 */
import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { nonRetryableErrorTypes } from '../domain/errors.js';

/** A quick read-only look at a node: fails fast when the node or its agent is down. */
export const nodeProbe: ActivityOptions = {
  // The whole thing, queue wait included: a dead agent must not hang a status request.
  scheduleToCloseTimeout: '45 seconds',
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
};

/** A long-running tool on a node (pg_basebackup, verification): heartbeats, few retries. */
export const longTool: ActivityOptions = {
  // Cancelled means stopped: wait until the tool is dead and the upload aborted.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  // A node whose agent is down must not leave the procedure waiting for ever.
  scheduleToStartTimeout: '10 minutes',
  startToCloseTimeout: '12 hours',
  // Activities beat every 2 s; a dead worker is noticed (and the attempt retried) within 20 s.
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 3, nonRetryableErrorTypes },
};

/** A catalog read or write in S3: quick, retried through short outages. */
export const storageOp: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10, nonRetryableErrorTypes },
};

/** Copying or re-reading objects between repositories (the offsite copy): long, heartbeating, retried through outages. */
export const storageCopy: ActivityOptions = {
  startToCloseTimeout: '12 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 5, nonRetryableErrorTypes },
};

/** A call to the Temporal service itself (describe a workflow). */
export const temporalOp: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5, nonRetryableErrorTypes },
};

/** A short piece of work on a node (a SQL change, reading a few WAL segments). */
export const nodeTask: ActivityOptions = {
  scheduleToStartTimeout: '2 minutes',
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 3, nonRetryableErrorTypes },
};

/** Waiting for something to show up in S3 (the check's round trip); its own timeout lives in the input. */
export const awaitStorage: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
};

/** Waiting on the control worker for something another system does (Patroni); its own timeout lives in the input. */
export const awaitControl: ActivityOptions = {
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
};

/**
 * One step of a switchover's fence (checkpoint, stop, promote): quick, few retries, so that a
 * stuck step rolls the switchover back instead of holding clients.
 */
export const fenceStep: ActivityOptions = {
  scheduleToStartTimeout: '1 minute',
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 2, nonRetryableErrorTypes },
};

/**
 * A request that changes what Patroni does (POST /switchover, /reinitialize): one attempt only.
 * A retried /reinitialize restarts a clone in progress; a retried /switchover after Patroni did
 * switch is refused ("leader name does not match"). The workflow judges the outcome instead.
 */
export const patroniRequest: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 1, nonRetryableErrorTypes },
};
