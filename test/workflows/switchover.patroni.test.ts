/**
 * switchover and rebuild of a real Patroni 3.0.2 cluster (etcd, two members): pgdr asks
 * Patroni (POST /switchover, POST /reinitialize) instead of steering Postgres, then verifies
 * with its own probes. Patroni archives through `pgdr wal push`, so the new timeline's history
 * file must reach pgdr's archive. The result shows in the API, in `pgdr status` and in
 * Patroni's own GET /cluster.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { stackLayout, repoRoot } from '../../scripts/stack/layout.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import { startPatroniCluster, type PatroniClusterHandle } from '../../scripts/stack/patroni.js';
import type { PgSecrets } from '../../scripts/stack/postgres.js';
import { archiveCommands } from '../../config/archiveCommands.js';
import { buildServer } from '../../api/server.js';
import type { RebuildReport, SwitchoverReport } from '../../domain/replication.js';
import type { ClusterStatus } from '../../domain/status.js';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/stack.js';

const layout = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
const s = ensureSecrets(layout.secrets);
const secrets: PgSecrets = { superuserPassword: s['pg-superuser-password'].value, pgdrPassword: s['pgdr-password'].value };

let patroni: PatroniClusterHandle | undefined;
let tc: TestCluster;
let c: Awaited<ReturnType<typeof clients>>;
let workers: { stop: () => Promise<void> } | undefined;
let secretDir: string | undefined;
/** The API on a real port, for the CLI. */
let http: { app: FastifyInstance; url: string; token: string } | undefined;

interface PatroniMember {
  name: string;
  role: string;
  state: string;
  timeline?: number;
  lag?: number | string;
}

/** The first row of a query's answer. */
async function one<T>(node: string, text: string): Promise<T> {
  const rows = await sql<T>(node, text);
  if (!rows[0]) throw new Error(`no row from ${node}: ${text}`);
  return rows[0];
}

async function sql<T = Record<string, unknown>>(node: string, text: string): Promise<T[]> {
  const n = patroni!.nodes[node]!;
  const client = new pg.Client({ host: n.host, port: n.port, user: 'postgres', database: 'postgres', password: secrets.superuserPassword });
  client.on('error', () => undefined); // a server switched over or stopped must not crash the process
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A Patroni REST call with the cluster's basic auth. */
async function rest(node: string, method: 'GET' | 'PATCH', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const auth = `Basic ${Buffer.from(`${patroni!.restAuth.username}:${patroni!.restAuth.password}`).toString('base64')}`;
  const res = await fetch(`${patroni!.nodes[node]!.patroniUrl}${path}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function members(): Promise<PatroniMember[]> {
  return (await rest('pg1', 'GET', '/cluster')).body.members;
}

/** The leader and the one replica, as Patroni sees them now. */
async function roles(): Promise<{ leader: string; replica: string }> {
  const leader = await until('a patroni leader', () => patroni!.leader());
  return { leader, replica: Object.keys(patroni!.nodes).find((n) => n !== leader)! };
}

async function run<T>(method: 'POST', url: string, body: unknown): Promise<T> {
  const res = await c.call(method, url, body);
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return c.temporal.workflow.getHandle(res.body.workflowId).result() as Promise<T>;
}

async function switchTo(candidate: string): Promise<SwitchoverReport> {
  return run<SwitchoverReport>('POST', `/api/v1/clusters/${tc.name}/switchover`, { candidate });
}

beforeAll(async () => {
  const t0 = Date.now();
  patroni = await startPatroniCluster(layout, { scope: `sw-${Date.now().toString(36)}`, members: 2, secrets });
  // The REST password only in a 0600 file the worker reads; the config names the file.
  secretDir = mkdtempSync(join(tmpdir(), 'pgdr-patroni-'));
  const passwordFile = join(secretDir, 'patroni-rest-password');
  writeFileSync(passwordFile, `${patroni.restAuth.password}\n`, { mode: 0o600 });
  tc = testCluster('patroni', (cl) => {
    // Node names equal Patroni's member names; so do the slots Patroni keeps (use_slots).
    cl.nodes = Object.fromEntries(
      Object.entries(patroni!.nodes).map(([name, n]) => [
        name,
        { host: n.host, port: n.port, dataDir: n.dataDir, binDir: n.binDir, osUser: n.osUser, patroniUrl: n.patroniUrl, slot: name },
      ]),
    );
    cl.patroni = { username: patroni!.restAuth.username, password: { file: passwordFile }, timeoutSeconds: 60 };
    cl.replication = { rebuildMaxLagBytes: 1024 * 1024, catchUpTimeoutMinutes: 5 };
    cl.switchover = { backupAfter: false };
  });
  workers = await startWorkers(tc);
  c = await clients(tc);

  // Patroni archives through pgdr: the switchover checks the new timeline's history file there.
  const { leader } = await roles();
  const { archiveCommand } = archiveCommands(tc.config, tc.name);
  const patch = await rest(leader, 'PATCH', '/config', {
    postgresql: { parameters: { archive_command: archiveCommand, archive_mode: 'on' } },
  });
  expect(patch.status, JSON.stringify(patch.body)).toBe(200);
  for (const node of Object.keys(patroni.nodes)) {
    await until(
      `archive_command reloaded on ${node}`,
      async () => (await one<{ archive_command: string }>(node, 'show archive_command')).archive_command === archiveCommand,
      30_000,
    );
  }
  await sql(leader, 'create table patroni_rows (id int primary key, note text not null); grant select, insert on patroni_rows to pgdr');
  const { segment } = await one<{ segment: string }>(leader, 'select pg_walfile_name(pg_switch_wal()) as segment');
  const archived = await until(
    `${segment} archived by pgdr wal push`,
    async () => {
      const a = await one<{ last_archived_wal: string | null; last_failed_wal: string | null }>(
        leader,
        'select last_archived_wal, last_failed_wal from pg_stat_archiver',
      );
      return a.last_archived_wal !== null && a.last_archived_wal >= segment ? a : undefined;
    },
    60_000,
  );
  expect(archived.last_failed_wal).toBeNull();

  // The API on a real port too: `pgdr status` talks HTTP.
  const token = randomBytes(16).toString('hex');
  const app = buildServer({ config: tc.config, temporal: c.temporal, s3: c.s3, token });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  http = { app, url, token };
  console.log(`patroni switchover test: cluster ${tc.name} (scope ${patroni.scope}) ready in ${Date.now() - t0} ms`);
}, 240_000);

afterAll(async () => {
  await http?.app.close();
  await c?.close();
  await workers?.stop();
  await patroni?.stop();
  if (secretDir) rmSync(secretDir, { recursive: true, force: true });
}, 120_000);

describe('switchover through patroni', () => {
  it('switches over through patroni, archives the history file, shows the new roles in the API, pgdr status and patroni, then switches back', async () => {
    const { leader, replica } = await roles();
    const report = await switchTo(replica);
    console.log(`patroni switchover ${leader} -> ${replica}: ${JSON.stringify(report.seconds)}`);
    expect(report).toMatchObject({
      viaPatroni: true,
      oldPrimary: leader,
      newPrimary: replica,
      historyArchived: true,
      rejoined: [{ node: leader, rewound: false, streaming: true }],
      warnings: [],
      pgbouncer: null,
    });
    expect(report.newTimeline).toBeGreaterThanOrEqual(2);

    // pgdr's own view, through the API.
    const status = await c.call('GET', `/api/v1/clusters/${tc.name}/status`);
    expect(status.status).toBe(200);
    const st = status.body as ClusterStatus;
    expect(st.primary).toBe(replica);
    expect(st.warnings).toEqual([]);
    const old = st.nodes.find((n) => n.node === leader)!;
    expect(old.probe?.role).toBe('standby');
    expect(old.probe?.walReceiver?.status).toBe('streaming');
    expect(old.probe?.timeline).toBe(report.newTimeline);
    expect(st.nodes.find((n) => n.node === replica)!.probe?.replication.map((r) => [r.applicationName, r.state])).toEqual([
      [leader, 'streaming'],
    ]);

    // The same through the CLI, against the API on a real port.
    const cli = await execa(join(repoRoot, 'bin/pgdr'), ['status', tc.name], {
      env: { PGDR_API_URL: http!.url, PGDR_API_TOKEN: http!.token, PGDR_CONFIG: '' },
      reject: false,
    });
    expect(cli.stderr).toBe('');
    expect(cli.exitCode).toBe(0);
    const lines = cli.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^cluster ${tc.name}: primary ${replica}, checked `));
    expect(lines.find((l) => l.startsWith(`${replica} `))).toMatch(
      new RegExp(`^${replica}\\s+primary\\s+${report.newTimeline}\\s+[0-9A-F]+/[0-9A-F]+\\s+-\\s+1 standby\\(s\\)`),
    );
    expect(lines.find((l) => l.startsWith(`${leader} `))).toMatch(
      new RegExp(`^${leader}\\s+standby\\s+${report.newTimeline}\\s+[0-9A-F]+/[0-9A-F]+\\s+\\d.*streaming\\s+on`),
    );
    expect(cli.stdout).toContain('warnings: none');

    // And Patroni agrees.
    const ms = await members();
    expect(ms.map((m) => [m.name, m.role, m.state]).sort()).toEqual(
      [
        [replica, 'leader', 'running'],
        [leader, 'replica', 'running'],
      ].sort(),
    );
    expect(ms.find((m) => m.name === replica)!.timeline).toBe(report.newTimeline);

    // And back.
    const back = await switchTo(leader);
    console.log(`patroni switchover ${replica} -> ${leader}: ${JSON.stringify(back.seconds)}`);
    expect(back).toMatchObject({
      viaPatroni: true,
      oldPrimary: replica,
      newPrimary: leader,
      historyArchived: true,
      rejoined: [{ node: replica, rewound: false, streaming: true }],
      warnings: [],
    });
    expect(back.newTimeline).toBe(report.newTimeline! + 1);
    expect(await patroni!.leader()).toBe(leader);
  }, 240_000);

  it('rebuilds the replica through patroni reinitialize so that it streams new rows again, and refuses to rebuild the leader', async () => {
    const { leader, replica } = await roles();
    const { started: before } = await one<{ started: Date }>(replica, 'select pg_postmaster_start_time() as started');
    const report = await run<RebuildReport>('POST', `/api/v1/clusters/${tc.name}/nodes/${replica}/rebuild`, { source: 'primary' });
    console.log(`patroni reinitialize of ${replica}: ${JSON.stringify(report.seconds)}`);
    expect(report).toMatchObject({ viaPatroni: true, node: replica, primary: leader, source: 'primary' });
    expect(report.lagBytes).toBeLessThanOrEqual(1024 * 1024);
    // A new server on a new copy, not the old one still running.
    const { started: after, recovery } = await one<{ started: Date; recovery: boolean }>(
      replica,
      'select pg_postmaster_start_time() as started, pg_is_in_recovery() as recovery',
    );
    expect(after.getTime()).toBeGreaterThan(before.getTime());
    expect(recovery).toBe(true);

    await sql(leader, "insert into patroni_rows values (1, 'after the rebuild')");
    const note = await until(
      'the new row on the rebuilt replica',
      async () => (await sql<{ note: string }>(replica, 'select note from patroni_rows where id = 1'))[0]?.note,
      30_000,
    );
    expect(note).toBe('after the rebuild');

    const refused = await c.call('POST', `/api/v1/clusters/${tc.name}/nodes/${leader}/rebuild`, { source: 'primary' });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('NODE_IS_PRIMARY');
    expect(refused.body.error.message).toMatch(new RegExp(`node "${leader}" of cluster "${tc.name}" is the primary`));
    expect(await patroni!.leader()).toBe(leader);
  }, 240_000);

  it('refuses a candidate that is not a node of the cluster with 404 and asks patroni nothing', async () => {
    const { leader } = await roles();
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/switchover`, { candidate: 'nosuch' });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('UNKNOWN_NODE');
    expect(res.body.error.message).toBe(`unknown node "nosuch" in cluster "${tc.name}": expected one of "pg1", "pg2"`);
    expect(await patroni!.leader()).toBe(leader);
  });
});
