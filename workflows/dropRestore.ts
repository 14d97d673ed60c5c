/**
 * dropRestore: stops and removes the copy a finished restore made, and only that copy. The
 * API refused already what the report and the config rule out (a restore that replaced a
 * directory in place, a configured node's directory); here the node agent shows the directory
 * still carries this restore's marker, then stops the server (fast) and removes the directory.
 * A copy already gone is not an error: the answer says so.
 */
import { patched, workflowInfo } from '@temporalio/workflow';
import { RestoreDropRefusedError, toApplicationFailure } from '../domain/errors.js';
import { dropProblemsFromFacts, dropProblemsFromReport } from '../domain/restoredCopy.js';
import type { RestoreReport } from '../domain/restore.js';
import { withDestinationLock } from './destinationLock.js';
import { nodeProbe, nodeTask } from './profiles.js';
import { nodeActivities } from './activityProxies.js';

export interface DropRestoreInput {
  cluster: string;
  /** From the stored report: which restore, where its copy is, whether it replaced data in place. */
  report: Pick<RestoreReport, 'id' | 'workflowId' | 'destination' | 'replaced'>;
  /** The destination node's agent queue. */
  taskQueue: string;
  /** Configured nodes' data directories: never dropped. */
  nodeDataDirs: Record<string, string>;
}

export interface DropRestoreResult {
  id: string;
  restoreWorkflowId: string;
  node: string;
  dataDir: string;
  /** A server ran in the copy and was stopped. */
  stopped: boolean;
  /** The directory was removed by this drop. */
  removed: boolean;
  /** Nothing was there any more: dropped before, or removed by hand. */
  alreadyRemoved: boolean;
  dropWorkflowId: string;
}

export async function dropRestore(input: DropRestoreInput): Promise<DropRestoreResult> {
  const r = input.report;
  const d = r.destination;
  const look = nodeActivities(d.node, input.taskQueue, nodeProbe);
  const node = nodeActivities(d.node, input.taskQueue, nodeTask);
  const refuse = (problems: string[]) => toApplicationFailure(new RestoreDropRefusedError(input.cluster, r.id, problems));
  const out = { id: r.id, restoreWorkflowId: r.workflowId, node: d.node, dataDir: d.dataDir, dropWorkflowId: workflowInfo().workflowId };

  // 1. Never live data: a restore in place, or a configured node's directory.
  const fromReport = dropProblemsFromReport(r, input.nodeDataDirs);
  if (fromReport.length) throw refuse(fromReport);

  // 2. The directory must still be this restore's copy (its marker), or be gone.
  const [facts] = await look.inspectRestoredCopies({ dataDirs: [d.dataDir] });
  if (!facts || facts.contents === 'absent') return { ...out, stopped: false, removed: false, alreadyRemoved: true };
  const foreign = dropProblemsFromFacts(r.workflowId, facts);
  if (foreign.length) throw refuse(foreign);

  // 3. Stop (fast) and remove; the agent checks the marker again right before it acts. One
  //    writer per directory: the drop holds the destination's lock, as a restore there would.
  const drop = async (): Promise<DropRestoreResult> => {
    const dropped = await node.dropRestoredCopy({ dataDir: d.dataDir, workflowId: r.workflowId, restoreId: r.id });
    return { ...out, stopped: dropped.stopped, removed: dropped.removed, alreadyRemoved: false };
  };
  if (facts.host && facts.canonicalDir && patched('drop-holds-destination'))
    return withDestinationLock(input.cluster, facts.host, facts.canonicalDir, drop);
  return drop();
}
