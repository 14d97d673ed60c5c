import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { ownPostgres } from '../helpers/postgres.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import type { PgSecrets } from '../../scripts/stack/postgres.js';
import { portOpen, sleep } from '../../scripts/stack/procs.js';
import { databasesLine, processRunning, startPgBouncer, type PgBouncerHandle } from '../../scripts/stack/pgbouncer.js';
import { pgbenchRun } from '../../scripts/stack/pgbench.js';

type TestServer = Awaited<ReturnType<typeof ownPostgres>>;

describe('a real PgBouncer in front of a test server, and pgbench through it', () => {
  let a: TestServer;
  let b: TestServer;
  let bouncer: PgBouncerHandle;
  let secrets: PgSecrets;

  /** A fresh client through PgBouncer, as the superuser or as the admin on its console. */
  async function client(as: 'postgres' | 'admin'): Promise<pg.Client> {
    const c = new pg.Client({
      host: bouncer.host,
      port: bouncer.port,
      ...(as === 'admin'
        ? { user: bouncer.adminUser, password: secrets.pgdrPassword, database: 'pgbouncer' }
        : { user: 'postgres', password: secrets.superuserPassword, database: 'postgres' }),
    });
    c.on('error', () => undefined); // a server switched over or stopped must not crash the process
    await c.connect();
    return c;
  }

  async function query<T>(as: 'postgres' | 'admin', sql: string): Promise<T[]> {
    const c = await client(as);
    try {
      // No parameters: the simple query protocol, which the admin console requires.
      return (await c.query(sql)).rows as T[];
    } finally {
      await c.end();
    }
  }

  const serverPort = async () => (await query<{ p: number }>('postgres', 'select inet_server_port() as p'))[0]!.p;

  beforeAll(async () => {
    // One after the other: the second free port is picked while the first server listens.
    a = await ownPostgres();
    await a.start();
    b = await ownPostgres();
    await b.start();
    const s = ensureSecrets(a.layout.secrets);
    secrets = { superuserPassword: s['pg-superuser-password'].value, pgdrPassword: s['pgdr-password'].value };
    bouncer = await startPgBouncer(a.layout, { name: `test-${a.port}`, target: { host: '127.0.0.1', port: a.port }, secrets });
  });

  afterAll(async () => {
    if (bouncer) {
      await bouncer.stop();
      rmSync(dirname(bouncer.iniFile), { recursive: true, force: true });
    }
    await a?.stop();
    await b?.stop();
  });

  it('routes a query through PgBouncer to the server its databases file names', async () => {
    expect(await serverPort()).toBe(a.port);
  });

  it('sends new transactions to another server once the databases file is rewritten and RELOAD is sent', async () => {
    const before = await client('postgres');
    try {
      expect((await before.query('select inet_server_port() as p')).rows[0].p).toBe(a.port);
      writeFileSync(bouncer.databasesFile, databasesLine({ host: '127.0.0.1', port: b.port }));
      await query('admin', 'RELOAD;');
      expect(await serverPort()).toBe(b.port);
      // A client connected before the RELOAD gets the new server on its next transaction too.
      expect((await before.query('select inet_server_port() as p')).rows[0].p).toBe(b.port);
    } finally {
      await before.end();
    }
  });

  it('runs pgbench through a 500 ms PAUSE with no failed transaction, the pause visible in its latency, and one row per reported transaction', async () => {
    await query('postgres', 'create table sw_rows (id bigserial primary key, v int not null)');
    const run = pgbenchRun(a.layout, {
      host: bouncer.host,
      port: bouncer.port,
      database: 'postgres',
      password: secrets.superuserPassword,
      clients: 8,
      seconds: 5,
      script: 'insert into sw_rows(v) values (:client_id);',
    });
    await sleep(2000);
    // PAUSE returns once running transactions are done; the clients wait until RESUME.
    const admin = await client('admin');
    try {
      await admin.query('PAUSE;');
      await sleep(500);
      await admin.query('RESUME;');
    } finally {
      await admin.end();
    }
    const r = await run.done;
    expect(r, r.stderrTail).toMatchObject({ failed: 0, abortedClients: 0 });
    expect(r.transactions).toBeGreaterThan(100);
    expect(r.maxLatencyMs).toBeGreaterThanOrEqual(400);
    expect(r.longestGapMs).toBeGreaterThanOrEqual(400);
    const [row] = await query<{ n: number }>('postgres', 'select count(*)::int as n from sw_rows');
    expect(row?.n).toBe(r.transactions);
  }, 60_000);

  it('answers RESUME without a PAUSE with an error, and leaves the pooler serving', async () => {
    await expect(query('admin', 'RESUME;')).rejects.toThrow('pooler is not paused/suspended');
    expect(await serverPort()).toBe(b.port);
  });

  it('stops PgBouncer: the process is gone and the port closed', async () => {
    const pid = Number(readFileSync(join(dirname(bouncer.iniFile), 'pgbouncer.pid'), 'utf8'));
    expect(processRunning(pid)).toBe(true);
    await bouncer.stop();
    expect(processRunning(pid)).toBe(false);
    expect(await portOpen(bouncer.port)).toBe(false);
  });
});
