/**
 * A test's own Postgres server (initdb'd on a free port, run as the Postgres OS user) for
 * tests that change server settings or break archiving, which the shared demo cluster must
 * never see. Removed again by stop().
 */
import { inject } from 'vitest';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { stackLayout, type StackLayout } from '../../scripts/stack/layout.js';
import { freePort } from '../../scripts/stack/procs.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import {
  ensureCluster,
  psql,
  stackPgSsl,
  stopCluster,
  NO_ARCHIVE_COMMANDS,
  type PgClusterPlan,
  type PgSecrets,
} from '../../scripts/stack/postgres.js';

export interface OwnPostgres {
  port: number;
  dataDir: string;
  layout: StackLayout;
  /** Node config for testCluster's adjust. */
  node: { host: string; port: number; dataDir: string; binDir: string; osUser: string };
  /** Runs SQL as the superuser; returns psql -At output. */
  sql(text: string): Promise<string>;
  /** Runs SQL as the superuser on another server of the same stack (e.g. a restored copy). */
  sqlAt(port: number, text: string): Promise<string>;
  /** A node-postgres client as the superuser over TCP (this server, or another port). */
  connect(port?: number): Promise<pg.Client>;
  stop(): Promise<void>;
}

/** `initdbArgs`: more initdb arguments (e.g. `--wal-segsize=64`); none by default. */
export async function ownPostgres(
  opts: { initdbArgs?: string[] } = {},
): Promise<OwnPostgres & { start(archiveCommands?: PgClusterPlan['archiveCommands']): Promise<void> }> {
  const layout = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
  const port = await freePort();
  const base = join(layout.dir, 'pg', `own-${port}`);
  const dataDir = join(base, 'primary');
  const s = ensureSecrets(layout.secrets);
  const secrets: PgSecrets = { superuserPassword: s['pg-superuser-password'].value, pgdrPassword: s['pgdr-password'].value };
  const plan = (archiveCommands: PgClusterPlan['archiveCommands']): PgClusterPlan => ({
    cluster: `own-${port}`,
    primary: { name: 'primary', port, dataDir },
    standbys: [],
    socketDir: join(layout.run, 'pg'),
    logDir: join(layout.logs, 'postgres'),
    passfile: join(base, 'pgpass'),
    archiveCommands,
    ...(opts.initdbArgs ? { initdbArgs: opts.initdbArgs } : {}),
  });
  return {
    port,
    dataDir,
    layout,
    node: { host: '127.0.0.1', port, dataDir, binDir: layout.pgBin, osUser: layout.pgUser },
    /** initdb (once) and start; archive_command from archiveCommands, or none yet. */
    async start(archiveCommands = NO_ARCHIVE_COMMANDS) {
      await ensureCluster(layout, plan(archiveCommands), secrets);
    },
    sql: (text) => psql(layout, plan(NO_ARCHIVE_COMMANDS), port, text, secrets),
    sqlAt: (other, text) => psql(layout, plan(NO_ARCHIVE_COMMANDS), other, text, secrets),
    async connect(other = port) {
      const c = new pg.Client({
        host: '127.0.0.1',
        port: other,
        user: 'postgres',
        database: 'postgres',
        password: secrets.superuserPassword,
        ssl: stackPgSsl(layout),
      });
      c.on('error', () => undefined); // a server the test stops must not crash the test process
      await c.connect();
      return c;
    },
    async stop() {
      await stopCluster(layout, plan(NO_ARCHIVE_COMMANDS));
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/**
 * A server of the test's own with about 70 MB of table: at the 4 MB/s of slowBackups the
 * backup streams for ~17 s, long enough to break something (the server, S3, Temporal) under it.
 */
export async function ownPostgresWithBigTable(): Promise<Awaited<ReturnType<typeof ownPostgres>>> {
  const pgs = await ownPostgres();
  await pgs.start();
  await pgs.sql(
    `create table big as select g as id, md5(g::text) || md5((g + 1)::text) as pad from generate_series(1, 600000) g; checkpoint`,
  );
  return pgs;
}

/** testCluster adjust: the cluster is that server alone, backed up at 4 MB/s. */
export function slowBackups(pgs: OwnPostgres): (cluster: Record<string, any>) => void {
  return (cl) => {
    cl.nodes = { primary: pgs.node };
    cl.backup = { ...cl.backup, maxRateKBps: 4096 };
  };
}
