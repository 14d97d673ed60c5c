/**
 * What the cross-host tests share: a session on one topology (scripts/hosts) with the API on
 * ctl1, SQL over TLS to each node from the machine, a Temporal client, and readers of a
 * workflow's history that say which host ran each step.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { expect } from 'vitest';
import { connectTemporalClient } from '../../adapters/temporalConnection.js';
import { loadConfig } from '../../config/load.js';
import { nodeTaskQueue } from '../../domain/naming.js';
import { nsName, pidsIn } from '../../scripts/hosts/netns.js';
import {
  CLUSTER,
  PG_NODES,
  topology,
  topologyDown,
  topologySecret,
  topologyUp,
  type PgNode,
  type Topology,
} from '../../scripts/hosts/topology.js';
import { repoRoot } from '../../scripts/stack/layout.js';

/** A topology of the test's own (tag, subnet and directory no other file and no person uses). */
export function testTopology(tag: string, subnet: number): Topology {
  return topology({
    ...process.env,
    PGDR_HOSTS_TAG: tag,
    PGDR_HOSTS_SUBNET: String(subnet),
    PGDR_HOSTS_DIR: join(repoRoot, '.pgdr-stack', `hosts-test-${tag}`),
  });
}

export interface HostsSession {
  t: Topology;
  temporal: Client;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  sql(node: PgNode, text: string, port?: number): Promise<pg.QueryResult>;
  /** SQL at any address of the harness (HAProxy's listeners on ctl1). */
  sqlAt(host: string, port: number, text: string): Promise<pg.QueryResult>;
  finished(workflowId: string, timeoutMs?: number): Promise<{ handle: WorkflowHandle; result: any }>;
  close(): Promise<void>;
}

/** Builds the topology from nothing (a failed run's leftovers removed first) and connects to it. */
export async function openHosts(t: Topology): Promise<HostsSession> {
  await topologyDown(t);
  // The test's own harness directory (never a person's): every run starts from empty hosts.
  rmSync(t.dir, { recursive: true, force: true });
  await topologyUp(t, (line) => console.log(line));
  const { client, connection } = await connectTemporalClient(loadConfig(t.configFile).temporal);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://${t.addr.ctl1}:${t.ports.api}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${topologySecret(t, 'api-token')}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  const sqlAt = async (host: string, port: number, text: string) => {
    const c = new pg.Client({
      host,
      port,
      user: 'postgres',
      database: 'postgres',
      password: topologySecret(t, 'pg-superuser-password'),
      ssl: { ca: readFileSync(t.caCert, 'utf8'), rejectUnauthorized: true },
      connectionTimeoutMillis: 10_000,
    });
    await c.connect();
    try {
      return await c.query(text);
    } finally {
      await c.end();
    }
  };
  const sql = (node: PgNode, text: string, port = t.ports.pg) => sqlAt(t.addr[node], port, text);
  const finished = async (workflowId: string, timeoutMs = 240_000) => {
    const handle = client.workflow.getHandle(workflowId);
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        handle.result(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${workflowId} not finished after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return { handle, result };
    } finally {
      clearTimeout(timer);
    }
  };
  return { t, temporal: client, api, sql, sqlAt, finished, close: () => connection.close() };
}

/** The data directories of the postmasters running on a host (processes in its network namespace). */
export async function postmastersOn(t: Topology, host: string): Promise<string[]> {
  const dirs: string[] = [];
  for (const pid of await pidsIn(nsName(t.tag, host))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[0]?.endsWith('/postgres') && argv[1] === '-D') dirs.push(argv[2]!);
  }
  return dirs.sort();
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
