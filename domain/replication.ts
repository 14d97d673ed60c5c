/**
 * Replica rebuild and planned switchover: the judgements, as pure functions over the nodes'
 * probes, shared by the API (answering 412/422 before anything starts) and the workflows
 * (judging again, inside the cluster lock, before touching anything). Workflow-safe.
 */
import { parseLsn } from './lsn.js';
import type { ClusterStatus, NodeStatus } from './status.js';
import type { WalCheckResult } from './walCheck.js';

export type RebuildSource = 'primary' | 'backup';

/** A stored walArchiveCheck younger than this counts when judging the archive's health. */
export const WAL_CHECK_RELEVANT_MINUTES = 60;

export interface Verdict {
  /** The node that is primary now (null: none, or more than one). */
  primary: string | null;
  /** 422: the request itself cannot be honoured (e.g. it names the primary). */
  invalid: string[];
  /** 412: the cluster is not in a state to start from; each names the actual and expected value. */
  unmet: string[];
}

function primaryOf(status: ClusterStatus, v: Verdict): NodeStatus | undefined {
  const primaries = status.nodes.filter((n) => n.probe?.role === 'primary');
  if (primaries.length === 0)
    v.unmet.push(
      `no reachable primary (${status.nodes.map((n) => `${n.node}: ${n.reachable ? n.probe?.role : `unreachable, ${n.error}`}`).join('; ')})`,
    );
  if (primaries.length > 1) v.unmet.push(`more than one primary: ${primaries.map((p) => p.node).join(', ')}`);
  return primaries.length === 1 ? primaries[0] : undefined;
}

/** Archive health as a switchover needs it: the primary's archiver not failing, the last check not failed. */
export function archiveProblems(primary: NodeStatus | undefined, lastCheck: WalCheckResult | null, now: Date): string[] {
  const out: string[] = [];
  const a = primary?.probe?.archiver;
  if (primary?.probe && primary.probe.archiveMode === 'off')
    out.push(`archive_mode is off on the primary ${primary.node} (expected on or always)`);
  if (a?.lastFailedAt && (!a.lastArchivedAt || Date.parse(a.lastFailedAt) > Date.parse(a.lastArchivedAt))) {
    out.push(
      `the primary's archiver is failing: last failure ${a.lastFailedWal} at ${a.lastFailedAt}, last success ${a.lastArchivedWal ?? 'never'} at ${a.lastArchivedAt ?? '-'}`,
    );
  }
  if (lastCheck && !lastCheck.healthy && now.getTime() - Date.parse(lastCheck.checkedAt) < WAL_CHECK_RELEVANT_MINUTES * 60_000) {
    out.push(`the last WAL archive check (${lastCheck.checkedAt}) failed: ${lastCheck.problems.join('; ')}`);
  }
  return out;
}

/** May `node` be rebuilt? Never the primary; a primary to rebuild from (or stream from after a backup) must exist. */
export function judgeRebuild(status: ClusterStatus, node: string): Verdict {
  const v: Verdict = { primary: null, invalid: [], unmet: [] };
  const target = status.nodes.find((n) => n.node === node);
  if (target?.probe?.role === 'primary') {
    v.invalid.push(
      `node ${node} is the primary (timeline ${target.probe.timeline}, lsn ${target.probe.currentLsn}); a rebuild only replaces a standby`,
    );
    return v;
  }
  const primary = primaryOf(status, v);
  if (primary) v.primary = primary.node;
  if (primary?.node === node) v.invalid.push(`node ${node} is the primary`);
  return v;
}

export interface SwitchoverFacts {
  primary: string | null;
  candidate: string;
  candidateLagBytes: number | null;
  timeline: number | null;
  synchronousStandbyNames: string;
}

/** May the primary role move to `candidate` now? Every unmet precondition is named with its numbers. */
export function judgeSwitchover(
  status: ClusterStatus,
  candidate: string,
  maxLagBytes: number,
  lastCheck: WalCheckResult | null,
  now: Date,
): Verdict & { facts: SwitchoverFacts } {
  const v: Verdict = { primary: null, invalid: [], unmet: [] };
  const facts: SwitchoverFacts = { primary: null, candidate, candidateLagBytes: null, timeline: null, synchronousStandbyNames: '' };
  const c = status.nodes.find((n) => n.node === candidate);
  if (c?.probe?.role === 'primary' && status.nodes.filter((n) => n.probe?.role === 'primary').length === 1) {
    v.invalid.push(`candidate ${candidate} is already the primary`);
    return { ...v, facts };
  }
  const primary = primaryOf(status, v);
  if (primary?.probe) {
    v.primary = facts.primary = primary.node;
    facts.timeline = primary.probe.timeline;
    facts.synchronousStandbyNames = primary.probe.synchronousStandbyNames;
  }
  if (!c) {
    v.invalid.push(`candidate ${candidate} is not a node of the cluster`);
    return { ...v, facts };
  }
  if (!c.reachable || !c.probe) {
    v.unmet.push(`candidate ${candidate} is unreachable: ${c.error ?? 'no probe'}`);
    return { ...v, facts };
  }
  const p = c.probe;
  if (p.walReceiver?.status !== 'streaming')
    v.unmet.push(`candidate ${candidate} is not streaming (wal receiver: ${p.walReceiver?.status ?? 'none'}; expected streaming)`);
  if (primary?.probe && p.timeline !== primary.probe.timeline)
    v.unmet.push(
      `candidate ${candidate} is on timeline ${p.timeline}, the primary ${primary.node} on ${primary.probe.timeline} (expected the same)`,
    );
  if (p.replayPaused) v.unmet.push(`candidate ${candidate} has WAL replay paused (expected replaying; pg_wal_replay_resume())`);
  if (primary?.probe?.currentLsn && p.replayLsn) {
    const lag = Math.max(0, Number(parseLsn(primary.probe.currentLsn) - parseLsn(p.replayLsn)));
    facts.candidateLagBytes = lag;
    if (lag > maxLagBytes)
      v.unmet.push(
        `candidate ${candidate} lags ${lag} bytes behind the primary (replayed ${p.replayLsn}, primary at ${primary.probe.currentLsn}; expected at most ${maxLagBytes})`,
      );
  } else if (primary) {
    v.unmet.push(`candidate ${candidate} reports no replay position (expected a streaming standby)`);
  }
  const slot = p.walReceiver?.slotName;
  if (primary?.probe && slot && !primary.probe.replication.some((r) => r.slotName === slot && r.state === 'streaming')) {
    v.unmet.push(`the primary ${primary.node} shows no streaming connection on the candidate's slot ${slot} in pg_stat_replication`);
  }
  v.unmet.push(...archiveProblems(primary, lastCheck, now));
  return { ...v, facts };
}

/** synchronous_standby_names after a switchover: the candidate's name gives way to the old primary's. */
export function swapSyncNames(names: string, candidate: string, oldPrimary: string): string {
  if (!names.trim()) return names;
  return names.replace(/("?)([A-Za-z0-9_-]+)\1/g, (whole, _q: string, name: string) =>
    name === candidate ? whole.replace(name, oldPrimary) : whole,
  );
}

/** True when `replayLsn` shows the record that starts at `checkpointLsn` was replayed. */
export function replayedPast(replayLsn: string | null, checkpointLsn: string): boolean {
  return replayLsn !== null && parseLsn(replayLsn) > parseLsn(checkpointLsn);
}

/** Replay has reached `endLsn`, the end of WAL written (pg_current_wal_lsn): at it counts, nothing lies between. */
export function replayedTo(replayLsn: string | null, endLsn: string): boolean {
  return replayLsn !== null && parseLsn(replayLsn) >= parseLsn(endLsn);
}

/** primary_conninfo for a standby of `primary`: never a password (passfile names the file libpq reads); TLS files are paths on the standby's host. */
export function primaryConninfo(
  primary: { host: string; port: number },
  opts: {
    user: string;
    applicationName: string;
    passfile?: string;
    sslmode: string;
    sslrootcert?: string;
    sslcert?: string;
    sslkey?: string;
  },
): string {
  const q = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const parts = [
    `host=${q(primary.host)}`,
    `port=${primary.port}`,
    `user=${q(opts.user)}`,
    `application_name=${q(opts.applicationName)}`,
    `sslmode=${opts.sslmode === 'disable' ? 'prefer' : opts.sslmode}`,
  ];
  if (opts.sslrootcert) parts.push(`sslrootcert=${q(opts.sslrootcert)}`);
  if (opts.sslcert) parts.push(`sslcert=${q(opts.sslcert)}`);
  if (opts.sslkey) parts.push(`sslkey=${q(opts.sslkey)}`);
  if (opts.passfile) parts.push(`passfile=${q(opts.passfile)}`);
  return parts.join(' ');
}

export interface RebuildReport {
  formatVersion: 1;
  cluster: string;
  node: string;
  workflowId: string;
  source: RebuildSource;
  /** The primary it streams from, or Patroni's leader. */
  primary: string;
  backupId: string | null;
  oldDataDir: string | null;
  oldDataDirRemoved: boolean;
  lagBytes: number | null;
  seconds: { clone: number; catchUp: number; total: number };
  viaPatroni: boolean;
  startedAt: string;
  finishedAt: string;
  /** source backup: the repository it was read from, when not the primary, and why (auto). */
  repository?: { name: 'secondary'; note: string | null };
}

export interface SwitchoverReport {
  formatVersion: 1;
  cluster: string;
  workflowId: string;
  oldPrimary: string;
  newPrimary: string;
  viaPatroni: boolean;
  /** The stopped primary's shutdown checkpoint the candidate replayed before promotion (plain mode). */
  shutdownCheckpointLsn: string | null;
  newTimeline: number | null;
  historyArchived: boolean | null;
  pgbouncer: { paused: boolean; repointed: boolean } | null;
  rejoined: { node: string; rewound: boolean; streaming: boolean }[];
  /** Seconds PgBouncer held clients (PAUSE to RESUME), or the write-unavailable window without one. */
  pauseSeconds: number | null;
  backupWorkflowId: string | null;
  warnings: string[];
  seconds: { preconditions: number; fence: number; promote: number; rejoin: number; total: number };
  startedAt: string;
  finishedAt: string;
}
