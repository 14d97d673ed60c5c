/**
 * What the Temporal UI shows of a pgdr workflow: a one-line staticSummary and a short
 * staticDetails naming the cluster, the procedure, its target and who started it. Pure and
 * workflow-safe. Only names go in (nodes, directories, backup ids, the recovery target): the
 * text is stored unencrypted in history and visibility, so never a conninfo, command or secret.
 */
import { describeTarget, type RestoreTarget } from './restore.js';
import { scheduleId, type Procedure } from './naming.js';

/** A procedure, or one of the lock children procedures hold. */
export type SummarizedWorkflow = Procedure | 'clusterLock' | 'destinationLock';

/**
 * The fields of a workflow's input that say what it acts on, and who asked. A structural view
 * (domain does not import workflows); every field is optional, so an input of another shape only
 * loses its target.
 */
export interface TargetFacts {
  /** api, cli, schedule:<name>, drill:<id> (startedByOf). */
  trigger?: string;
  /** backup: full | diff | incr; restoreDrill: latest | immediate. */
  type?: string;
  target?: string;
  /** backup: primary | standby. */
  from?: string;
  /** expireBackups. */
  dryRun?: boolean;
  /** copyBackup: re-read the whole copy. */
  verify?: boolean;
  /** replicaRebuild: the standby and where it is cloned from. */
  node?: string;
  source?: string;
  /** switchover. */
  candidate?: string;
  /** pitrRestore, restorePreflight. */
  request?: { target?: RestoreTarget; destination?: { node?: string; dataDir?: string } };
  /** restoreDrill. */
  drillNode?: string;
  /** dropRestore. */
  report?: { id?: string; destination?: { node?: string; dataDir?: string } };
  /** A destination lock's <host>:<directory>. (A lock's holder is the run that started it.) */
  dir?: string;
}

/** What a workflow acts on, in a few words; undefined when it is the whole cluster. */
export function summaryTarget(workflow: SummarizedWorkflow, input: TargetFacts | undefined): string | undefined {
  const i = input ?? {};
  const at = (d?: { node?: string; dataDir?: string }) => (d?.node ? `${d.node}${d.dataDir ? `:${d.dataDir}` : ''}` : undefined);
  switch (workflow) {
    case 'backup':
      return i.type ? `${i.type} backup${i.from ? ` from the ${i.from}` : ''}` : undefined;
    case 'expireBackups':
      return i.dryRun ? 'retention (dry run)' : 'retention';
    case 'pitrRestore':
    case 'restorePreflight': {
      const where = at(i.request?.destination);
      const what = i.request?.target ? describeTarget(i.request.target) : undefined;
      return what || where ? [what, where && `into ${where}`].filter(Boolean).join(' ') : undefined;
    }
    case 'restoreDrill':
      return i.drillNode ? `${i.target ?? 'latest'} on ${i.drillNode}` : undefined;
    case 'replicaRebuild':
      return i.node ? `standby ${i.node}${i.source ? ` from the ${i.source}` : ''}` : undefined;
    case 'switchover':
      return i.candidate ? `to ${i.candidate}` : undefined;
    case 'dropRestore':
      return i.report?.id ? `restore ${i.report.id}${at(i.report.destination) ? ` at ${at(i.report.destination)}` : ''}` : undefined;
    case 'destinationLock':
      return i.dir;
    case 'copyBackup':
      return i.verify ? 'to the secondary, verifying the whole copy' : 'to the secondary';
    default:
      return undefined;
  }
}

/**
 * Who started a run, from the trigger its input carries (api, cli, schedule:<name>, drill:<id>):
 * a schedule by its schedule id. Used where the caller is not known better (a schedule's action
 * names itself; a child names its parent).
 */
export function startedByOf(cluster: string, trigger: string | undefined, fallback: string): string {
  if (!trigger) return fallback;
  const schedule = /^schedule:(.+)$/.exec(trigger);
  return schedule ? `schedule ${scheduleId(cluster, schedule[1]!)}` : trigger.replace(':', ' ');
}

export interface SummaryFacts {
  workflow: SummarizedWorkflow;
  cluster: string;
  /** What it acts on (summaryTarget); omitted for the whole cluster. */
  target?: string;
  /** "api", "cli", "schedule <schedule id>", "workflow <parent workflow id>". */
  startedBy: string;
}

/** The staticSummary and staticDetails of a workflow start (Temporal markdown). */
export function workflowSummary(f: SummaryFacts): { staticSummary: string; staticDetails: string } {
  const head = `${f.workflow} ${f.cluster}${f.target ? `: ${f.target}` : ''}`;
  return {
    staticSummary: `${head} (by ${f.startedBy})`,
    staticDetails: [
      `- cluster: ${f.cluster}`,
      `- procedure: ${f.workflow}`,
      `- target: ${f.target ?? 'the whole cluster'}`,
      `- started by: ${f.startedBy}`,
    ].join('\n'),
  };
}
