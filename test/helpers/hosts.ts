/**
 * What the cross-host tests share: a session on one topology (scripts/hosts) with the API on
 * ctl1, SQL over TLS to each node from the machine, a Temporal client, and readers of a
 * workflow's history that say which host ran each step.
 */
import { readFileSync } from 'node:fs';
import type { WorkflowHandle } from '@temporalio/client';
import { expect } from 'vitest';
import { nodeTaskQueue } from '../../domain/naming.js';
import { nsName, pidsIn } from '../../scripts/hosts/netns.js';
import { CLUSTER, PG_NODES, hostDir, pgMajorOf, runOn, type PgNode, type Topology } from '../../scripts/hosts/topology.js';
export { openHosts, ownTopology as testTopology, type HostsSession } from '../../scripts/hosts/session.js';

/**
 * A Debian-managed node as its host's postgresql-common sees it: pg_lsclusters' status, and
 * whether the running postmaster was started by pg_ctlcluster (its command line names the
 * configuration in /etc/postgresql/<major>/<node>) rather than by pg_ctl on the data directory.
 */
export async function debianCluster(t: Topology, node: PgNode): Promise<{ status: string; byPgCtlcluster: boolean }> {
  const major = pgMajorOf(t);
  const line = (await runOn(t, node, ['pg_lsclusters', '--no-header', major, node])).trim().split(/\s+/);
  let cmdline = '';
  try {
    const pid = readFileSync(`${hostDir(t, node)}/pg/${node}/postmaster.pid`, 'utf8').split('\n')[0];
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    // not running
  }
  return { status: line[3] ?? '', byPgCtlcluster: cmdline.includes(`config_file=/etc/postgresql/${major}/${node}/postgresql.conf`) };
}

/** The data directories of the postmasters running on a host (processes in its network namespace). */
export async function postmastersOn(t: Topology, host: string): Promise<string[]> {
  // A backend just forked keeps its postmaster's command line until it sets its own title, so
  // a process whose parent is one of these counts as that parent's child, not a postmaster.
  const found = new Map<number, { dir: string; ppid: number }>();
  for (const pid of await pidsIn(nsName(t.tag, host))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (!(argv[0]?.endsWith('/postgres') && argv[1] === '-D')) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      found.set(pid, { dir: argv[2]!, ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) });
    } catch {
      continue;
    }
  }
  return [...found.values()]
    .filter((p) => !found.has(p.ppid))
    .map((p) => p.dir)
    .sort();
}

export interface StepRun {
  type: string;
  queue: string;
  identity: string;
}

/** Every activity the workflow ran: its type, the task queue it was scheduled on, and the worker that completed it. */
export async function activityRuns(handle: WorkflowHandle): Promise<StepRun[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, { type: string; queue: string }>();
  const out: StepRun[] = [];
  for (const e of events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '?', queue: s.taskQueue?.name ?? '?' });
    const c = e.activityTaskCompletedEventAttributes;
    if (c) out.push({ ...scheduled.get(String(c.scheduledEventId))!, identity: c.identity ?? '' });
  }
  return out;
}

/** The hosts of the workers that completed the workflow's tasks. */
export async function workflowTaskHosts(handle: WorkflowHandle): Promise<Set<string>> {
  const events = (await handle.fetchHistory()).events ?? [];
  return new Set(
    events.flatMap((e) => (e.workflowTaskCompletedEventAttributes ? [hostOf(e.workflowTaskCompletedEventAttributes.identity ?? '')] : [])),
  );
}

/** The host in a worker's default identity (pid@hostname); each test host has its own hostname. */
export const hostOf = (identity: string) => identity.slice(identity.lastIndexOf('@') + 1);

/** Node activities ran on their own node's agent, on that node's host; everything else on a control host. */
export function expectEachOnItsHost(runs: StepRun[]): void {
  expect(runs.length).toBeGreaterThan(0);
  for (const r of runs) {
    const node = PG_NODES.find((n) => r.queue === nodeTaskQueue(CLUSTER, n));
    if (node) expect({ step: r.type, host: hostOf(r.identity) }).toEqual({ step: r.type, host: node });
    else expect({ step: r.type, host: hostOf(r.identity) }).toEqual({ step: r.type, host: expect.stringMatching(/^ctl[12]$/) });
  }
}
