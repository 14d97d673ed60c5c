import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { stackLayout } from '../../scripts/stack/layout.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import { patroniBaseDir, startPatroniCluster, type PatroniClusterHandle } from '../../scripts/stack/patroni.js';
import { portOpen } from '../../scripts/stack/procs.js';
import type { PgSecrets } from '../../scripts/stack/postgres.js';
import { until } from '../helpers/stack.js';

const layout = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
const s = ensureSecrets(layout.secrets);
const secrets: PgSecrets = { superuserPassword: s['pg-superuser-password'].value, pgdrPassword: s['pgdr-password'].value };
const scope = `harness-${Date.now().toString(36)}`;

let cluster: PatroniClusterHandle | undefined;
let stopped = false;

async function connect(node: string, user: 'pgdr' | 'postgres'): Promise<pg.Client> {
  const n = cluster!.nodes[node]!;
  const c = new pg.Client({
    host: n.host,
    port: n.port,
    user,
    database: 'postgres',
    password: user === 'pgdr' ? secrets.pgdrPassword : secrets.superuserPassword,
  });
  c.on('error', () => undefined); // a server switched over or stopped must not crash the process
  await c.connect();
  return c;
}

async function withClient<T>(node: string, user: 'pgdr' | 'postgres', fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = await connect(node, user);
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('patroni harness', () => {
  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await startPatroniCluster(layout, { scope, members: 2, secrets });
    console.log(`patroni harness: ${scope} up in ${Date.now() - t0} ms`);
  }, 120_000);

  afterAll(async () => {
    if (cluster && !stopped) await cluster.stop();
  }, 120_000);

  it('has exactly one leader and one replica that streams from it', async () => {
    const res = await fetch(`${cluster!.nodes.pg1!.patroniUrl}/cluster`);
    const members: { name: string; role: string; state: string }[] = (await res.json()).members;
    expect(members.map((m) => m.role).sort()).toEqual(['leader', 'replica']);
    const leader = await cluster!.leader();
    expect(leader).toBe(members.find((m) => m.role === 'leader')!.name);
    const replica = members.find((m) => m.role === 'replica')!.name;
    const rows = await withClient(
      leader!,
      'pgdr',
      async (c) => (await c.query('select application_name, state from pg_stat_replication')).rows,
    );
    expect(rows).toEqual([{ application_name: replica, state: 'streaming' }]);
  });

  it('replicates a row inserted on the leader by pgdr over TCP to the replica', async () => {
    const leader = (await cluster!.leader())!;
    const replica = Object.keys(cluster!.nodes).find((n) => n !== leader)!;
    // pgdr may not create tables in public (Postgres 15); the superuser makes one for it.
    await withClient(leader, 'postgres', (c) =>
      c.query('create table harness_probe (id int primary key, note text); grant select, insert on harness_probe to pgdr'),
    );
    await withClient(leader, 'pgdr', (c) => c.query("insert into harness_probe values (1, 'from the leader')"));
    const note = await withClient(replica, 'pgdr', (c) =>
      until(
        'the row on the replica',
        async () =>
          (await c.query('select note from harness_probe where id = 1').catch(() => ({ rows: [] }))).rows[0]?.note as string | undefined,
        30_000,
      ),
    );
    expect(note).toBe('from the leader');
    await withClient(replica, 'pgdr', async (c) => expect((await c.query('select pg_is_in_recovery() as r')).rows[0].r).toBe(true));
  });

  it('refuses an unauthenticated or wrongly authenticated POST /switchover with 401', async () => {
    const leader = (await cluster!.leader())!;
    const replica = Object.keys(cluster!.nodes).find((n) => n !== leader)!;
    const url = `${cluster!.nodes[leader]!.patroniUrl}/switchover`;
    const body = JSON.stringify({ leader, candidate: replica });
    const none = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(none.status).toBe(401);
    expect(await none.text()).toBe('no auth header received');
    const wrong = `Basic ${Buffer.from(`${cluster!.restAuth.username}:not-the-password`).toString('base64')}`;
    const bad = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: wrong }, body });
    expect(bad.status).toBe(401);
    expect(await bad.text()).toBe('not authenticated');
    expect(await cluster!.leader()).toBe(leader);
  });

  it('stops every process, closes every port and removes its state directory', async () => {
    const ports = [
      Number(new URL(cluster!.etcdUrl).port),
      ...Object.values(cluster!.nodes).flatMap((n) => [n.port, Number(new URL(n.patroniUrl).port)]),
    ];
    expect(await Promise.all(ports.map((p) => portOpen(p)))).toEqual(ports.map(() => true));
    const t0 = Date.now();
    await cluster!.stop();
    stopped = true;
    console.log(`patroni harness: ${scope} stopped in ${Date.now() - t0} ms`);
    expect(await Promise.all(ports.map((p) => portOpen(p)))).toEqual(ports.map(() => false));
    expect(existsSync(patroniBaseDir(layout, scope))).toBe(false);
    expect(await cluster!.leader()).toBeNull();
  });
});
