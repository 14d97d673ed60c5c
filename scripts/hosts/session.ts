/**
 * A session on a running topology (scripts/hosts/topology.ts), for tests and benchmarks: the API
 * on ctl1, SQL over TLS to any harness address from the machine, and a Temporal client. Opening
 * one builds the topology from nothing (a failed run's leftovers removed first).
 */
import { readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import pg from 'pg';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { connectTemporalClient } from '../../adapters/temporalConnection.js';
import { loadConfig } from '../../config/load.js';
import { topology, topologyDown, topologySecret, topologyUp, type PgNode, type Topology } from './topology.js';
import { repoRoot } from '../stack/layout.js';

/** The directory name prefix of a topology openHosts may wipe. */
const OWN_PREFIX = 'hosts-own-';

/** A topology of its own for a test file or a benchmark (tag, subnet and directory nothing else uses). */
export function ownTopology(tag: string, subnet: number): Topology {
  return topology({
    ...process.env,
    PGDR_HOSTS_TAG: tag,
    PGDR_HOSTS_SUBNET: String(subnet),
    PGDR_HOSTS_DIR: join(repoRoot, '.pgdr-stack', `${OWN_PREFIX}${tag}`),
    // Every procedure is started by the test or benchmark itself.
    PGDR_HOSTS_SCHEDULES: 'off',
  });
}

export interface HostsSession {
  t: Topology;
  temporal: Client;
  // JSON answers of many shapes: tests and benchmarks read the fields they assert on.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  sql(node: PgNode, text: string, port?: number): Promise<pg.QueryResult>;
  /** SQL at any address of the harness (HAProxy's listeners on ctl1; PgBouncer, which takes no TLS from clients: tls false). */
  sqlAt(host: string, port: number, text: string, opts?: { tls?: boolean }): Promise<pg.QueryResult>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  finished(workflowId: string, timeoutMs?: number): Promise<{ handle: WorkflowHandle; result: any }>;
  close(): Promise<void>;
}

/** Builds the topology from nothing (a failed run's leftovers removed first) and connects to it. */
export async function openHosts(t: Topology): Promise<HostsSession> {
  // Every run starts from empty hosts, so the directory is removed: only one ownTopology made.
  if (!basename(t.dir).startsWith(OWN_PREFIX))
    throw new Error(
      `openHosts removes its topology's directory; ${t.dir} is not one ownTopology made (expected a name starting "${OWN_PREFIX}")`,
    );
  await topologyDown(t);
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
  const sqlAt = async (host: string, port: number, text: string, opts: { tls?: boolean } = {}) => {
    const c = new pg.Client({
      host,
      port,
      user: 'postgres',
      database: 'postgres',
      password: topologySecret(t, 'pg-superuser-password'),
      ssl: opts.tls === false ? false : { ca: readFileSync(t.caCert, 'utf8'), rejectUnauthorized: true },
      connectionTimeoutMillis: 10_000,
    });
    // A server stopped under it (a switchover) may end the connection between two messages: the
    // client then emits 'error', which unheard would crash the process; the call fails instead.
    c.on('error', () => undefined);
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
