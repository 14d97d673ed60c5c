/**
 * Activity option profiles: every timeout, heartbeat and retry rule lives here, named for
 * the kind of work. Workflows pick a profile and never write inline timeouts.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { nonRetryableErrorTypes } from '../common/errors.js';

/** A quick read-only look at a node: fails fast when the node or its agent is down. */
export const nodeProbe: ActivityOptions = {
  // The whole thing, queue wait included: a dead agent must not hang a status request.
  scheduleToCloseTimeout: '45 seconds',
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3, nonRetryableErrorTypes },
};
