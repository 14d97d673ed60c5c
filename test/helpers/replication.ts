/**
 * A test's own replicated cluster: a primary and streaming standbys (initdb'd, on free ports,
 * run as the Postgres OS user, archiving through pgdr to the test's S3 prefix), optionally
 * with a PgBouncer in front, plus the test's pgdr config, workers and API clients. Rebuild and
 * switchover tests change roles and data directories, which the shared demo cluster must
 * never see.
 */
import { expect, inject } from 'vitest';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { stackLayout, type StackLayout } from '../../scripts/stack/layout.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import {
  ensureCluster,
  NO_ARCHIVE_COMMANDS,
  psql,
  slotFor,
  stackPgSsl,
  stopCluster,
  type PgClusterPlan,
  type PgSecrets,
} from '../../scripts/stack/postgres.js';
import { startPgBouncer, type PgBouncerHandle } from '../../scripts/stack/pgbouncer.js';
import { archiveCommands } from '../../config/archiveCommands.js';
import { clients, startWorkers, testCluster, type TestCluster } from './cluster.js';
import { freePort } from '../../scripts/stack/procs.js';
import type { PgbenchResult } from '../../scripts/stack/pgbench.js';

export interface ReplicatedCluster {
  tc: TestCluster;
  c: Awaited<ReturnType<typeof clients>>;
  layout: StackLayout;
  plan: PgClusterPlan;
  secrets: PgSecrets;
  bouncer: PgBouncerHandle | null;
  /** Port of a node by name. */
  port(node: string): number;
  dataDir(node: string): string;
  /** SQL as the superuser on a node (psql -At output). */
  sql(node: string, text: string): Promise<string>;
  connect(port: number, user?: 'postgres' | 'pgdr'): Promise<pg.Client>;
  /** Runs the pgdr CLI against an API (listening on a free port) that serves this cluster. */
  cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/**
 * `worker` starts the test's workers (default: in this process, see startWorkers); a test that
 * kills the worker runs it in a process of its own.
 */
export async function replicatedCluster(
  prefix: string,
  opts: {
    standbys?: string[];
    pgbouncer?: boolean;
    adjust?: (cluster: Record<string, any>) => void;
    /** Changes the rest of the config (e.g. storage.secondary). */
    adjustRoot?: (raw: Record<string, any>) => void;
    worker?: (tc: TestCluster) => Promise<{ stop(): Promise<void> }>;
  } = {},
): Promise<ReplicatedCluster> {
  const layout = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
  const s = ensureSecrets(layout.secrets);
  const secrets: PgSecrets = { superuserPassword: s['pg-superuser-password'].value, pgdrPassword: s['pgdr-password'].value };
  const primaryPort = await freePort();
  const name = `rep${primaryPort}`;
  const base = join(layout.dir, 'pg', name);
  const standbys: PgClusterPlan['standbys'] = [];
  for (const n of opts.standbys ?? ['replica']) standbys.push({ name: n, port: await freePort(), dataDir: join(base, n) });
  const plan = (archiveCommands: PgClusterPlan['archiveCommands']): PgClusterPlan => ({
    cluster: name,
    primary: { name: 'primary', port: primaryPort, dataDir: join(base, 'primary') },
    standbys,
    socketDir: join(layout.run, 'pg'),
    logDir: join(layout.logs, 'postgres'),
    passfile: join(base, 'pgpass'),
    archiveCommands,
  });
  const p0 = plan(NO_ARCHIVE_COMMANDS);
  const bouncer = opts.pgbouncer ? await startPgBouncer(layout, { name, target: { host: '127.0.0.1', port: primaryPort }, secrets }) : null;
  const tc = testCluster(
    prefix,
    (cl) => {
      cl.nodes = Object.fromEntries(
        [p0.primary, ...p0.standbys].map((n) => [
          n.name,
          { host: '127.0.0.1', port: n.port, dataDir: n.dataDir, binDir: layout.pgBin, osUser: layout.pgUser, slot: slotFor(p0, n) },
        ]),
      );
      cl.replication = { passfile: p0.passfile, rebuildMaxLagBytes: 1024 * 1024, catchUpTimeoutMinutes: 5 };
      cl.switchover = { confirmTimeoutSeconds: 20, pauseTimeoutSeconds: 10, backupAfter: false };
      cl.restore = { ...cl.restore, dir: join(base, 'restores') };
      if (bouncer)
        cl.pgbouncer = {
          host: bouncer.host,
          port: bouncer.port,
          adminUser: bouncer.adminUser,
          node: 'primary',
          databasesFile: bouncer.databasesFile,
        };
      opts.adjust?.(cl);
    },
    opts.adjustRoot,
  );
  const full = plan(archiveCommands(tc.config, tc.name));
  await ensureCluster(layout, full, secrets);
  const workers = opts.worker ? await opts.worker(tc) : await startWorkers(tc);
  const c = await clients(tc);
  const nodes = [full.primary, ...full.standbys];
  const byName = (n: string) => nodes.find((x) => x.name === n)!;
  return {
    tc,
    c,
    layout,
    plan: full,
    secrets,
    bouncer,
    port: (n) => byName(n).port,
    dataDir: (n) => byName(n).dataDir,
    sql: (n, text) => psql(layout, full, byName(n).port, text, secrets),
    async connect(port, user = 'postgres') {
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user,
        database: 'postgres',
        password: user === 'postgres' ? secrets.superuserPassword : secrets.pgdrPassword,
        // The servers take TLS only; PgBouncer's client side has none.
        ssl: bouncer && port === bouncer.port ? false : stackPgSsl(layout),
      });
      client.on('error', () => undefined); // a server the test kills must not crash the test process
      await client.connect();
      return client;
    },
    cli: c.cli,
    async stop() {
      await c.close();
      await workers.stop();
      await bouncer?.stop();
      await stopCluster(layout, full).catch(() => undefined);
      // PGDR_KEEP_TEST_DATA=1 keeps the data directories (and their server logs) for a post-mortem.
      if (process.env.PGDR_KEEP_TEST_DATA !== '1') rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Waits for a workflow started by the API and returns its result (or throws its failure). */
export async function resultOf<T>(rc: ReplicatedCluster, workflowId: string): Promise<T> {
  return rc.c.temporal.workflow.getHandle(workflowId).result() as Promise<T>;
}

/** A pgbench load that went through a switchover: no failed transaction, no aborted client, and real work done. */
export function expectNoClientFailed(result: PgbenchResult, minTransactions: number): void {
  expect(result.stderrTail).not.toMatch(/aborted/);
  expect(result.failed).toBe(0);
  expect(result.abortedClients).toBe(0);
  expect(result.transactions).toBeGreaterThan(minTransactions);
}
