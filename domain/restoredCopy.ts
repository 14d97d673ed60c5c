/**
 * Restored copies as things users manage: what a finished restore left on its node (running,
 * stopped, removed) and whether pgdr may drop it. Pure and workflow-safe.
 *
 * Proof that a directory is a copy pgdr made, and only that copy: the stored restore report
 * names the workflow and the destination, and the directory's postgresql.auto.conf carries the
 * block marker `# pgdr restore <workflowId>` that the restore wrote there. A restore that
 * replaced a directory in place made live data, not a copy: never dropped.
 */
import type { RestoreReport } from './restore.js';
import { DRILL_RESTORE_WORKFLOW_ID_PATTERN } from './naming.js';

/** The line that opens a restore's block in postgresql.auto.conf (writeRecoverySettings). */
export function restoreMarker(workflowId: string): string {
  return `pgdr restore ${workflowId}`;
}

/** The workflow id named by the last restore marker in a postgresql.auto.conf, if any. */
export function markerWorkflowId(autoConf: string): string | null {
  const all = [...autoConf.matchAll(/^# pgdr restore (\S+)$/gm)];
  return all.at(-1)?.[1] ?? null;
}

/** What the node agent sees at a copy's directory. */
export interface CopyFacts {
  dataDir: string;
  /** absent: no directory (or an empty one); pgData: PG_VERSION there; files: anything else. */
  contents: 'absent' | 'pgData' | 'files';
  /** The workflow id named by the directory's restore marker (null: no marker). */
  markerWorkflowId: string | null;
  /** The live postmaster's pid and port (postmaster.pid), when one runs there. */
  pid: number | null;
  port: number | null;
  /** The agent's host and the directory's canonical path: the key of the destination's lock (absent from older agents). */
  host?: string;
  canonicalDir?: string;
}

export type CopyState = 'running' | 'stopped' | 'removed' | 'unknown';

/** One restore as the list shows it: the stored report's figures plus the copy's live state. */
export interface RestoredCopy {
  id: string;
  workflowId: string;
  /** A drill's scratch copy (restoreDrill tears those down itself) or a user's restore. */
  kind: 'restore' | 'drill';
  node: string;
  dataDir: string;
  state: CopyState;
  /** The port it listens on when running, else the one the restore gave it. */
  port: number;
  pid: number | null;
  /** Why the state is what it is, when that is not obvious (null otherwise). */
  note: string | null;
  /** true, or why DELETE would refuse. */
  droppable: true | string;
}

const norm = (p: string) => p.replace(/\/+$/, '');

/** A drill's child restore (restoreDrill names it pitrRestore/<cluster>/drill-...). */
export function isDrillRestore(workflowId: string): boolean {
  return DRILL_RESTORE_WORKFLOW_ID_PATTERN.test(workflowId);
}

/**
 * Why a copy must not be dropped, judged from the report and the config alone (the API checks
 * this before it starts anything): the restore replaced a directory in place, or the copy's
 * directory is, or holds, a configured node's data directory.
 */
export function dropProblemsFromReport(
  report: Pick<RestoreReport, 'id' | 'replaced' | 'destination'>,
  nodeDataDirs: Record<string, string>,
): string[] {
  const problems: string[] = [];
  const d = report.destination;
  if (report.replaced) {
    problems.push(
      `restore ${report.id} replaced ${d.node}:${d.dataDir} in place (the old directory was ${report.replaced.oldDataDir}): that directory is now live data, not a copy; pgdr does not drop it`,
    );
  }
  for (const [node, dir] of Object.entries(nodeDataDirs)) {
    const a = norm(dir);
    const b = norm(d.dataDir);
    if (a === b)
      problems.push(`${d.node}:${d.dataDir} is the data directory of node "${node}" of the cluster; pgdr drops only copies it restored`);
    else if (a.startsWith(`${b}/`))
      problems.push(`${d.node}:${d.dataDir} holds the data directory of node "${node}" (${dir}); pgdr drops only copies it restored`);
  }
  return problems;
}

/** Why the directory on the node is not (or no longer) this restore's copy; empty when it is. */
export function dropProblemsFromFacts(workflowId: string, facts: CopyFacts): string[] {
  if (facts.contents === 'absent') return [];
  if (facts.markerWorkflowId === null) {
    return [
      `${facts.dataDir} carries no "# ${restoreMarker(workflowId)}" marker in its postgresql.auto.conf (${facts.contents === 'pgData' ? 'a data directory pgdr did not restore' : 'not a data directory'}); pgdr drops only copies it restored`,
    ];
  }
  if (facts.markerWorkflowId !== workflowId) {
    return [
      `${facts.dataDir} now holds the copy of another restore (its marker names ${facts.markerWorkflowId}, expected ${workflowId}); drop that restore instead`,
    ];
  }
  return [];
}

/** The list entry of one report, from what the node saw (undefined facts: node unreachable). */
export function describeCopy(
  report: RestoreReport,
  nodeDataDirs: Record<string, string>,
  facts: CopyFacts | undefined,
  unreachable?: string,
): RestoredCopy {
  const d = report.destination;
  const base = {
    id: report.id,
    workflowId: report.workflowId,
    kind: isDrillRestore(report.workflowId) ? ('drill' as const) : ('restore' as const),
    node: d.node,
    dataDir: d.dataDir,
  };
  const fromReport = dropProblemsFromReport(report, nodeDataDirs);
  if (!facts)
    return {
      ...base,
      state: 'unknown',
      port: d.port,
      pid: null,
      note: `node ${d.node} did not answer: ${unreachable ?? 'no answer'}`,
      droppable: fromReport[0] ?? true,
    };
  const foreign = dropProblemsFromFacts(report.workflowId, facts);
  // A directory that no longer holds this restore's copy: this copy is gone, whatever is there now.
  if (facts.contents === 'absent' || (foreign.length > 0 && !report.replaced)) {
    return { ...base, state: 'removed', port: d.port, pid: null, note: foreign[0] ?? null, droppable: fromReport[0] ?? foreign[0] ?? true };
  }
  const running = facts.pid !== null;
  return {
    ...base,
    state: running ? 'running' : 'stopped',
    port: facts.port ?? d.port,
    pid: facts.pid,
    note: report.replaced ? `replaced ${d.dataDir} in place: live data, not a copy` : null,
    droppable: fromReport[0] ?? true,
  };
}
