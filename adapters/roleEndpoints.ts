/**
 * The HTTP face of a node agent's role checks (domain/roleHealth.ts): one small server per node
 * that has `healthPort`, bound to the node's own address, answering GET /primary, /replica and
 * /health from a fresh read of that node's server for every request (no cache: a switchover must
 * show at the next check, not at the next refresh).
 *
 * The reads go over one kept connection, not a new one per check: HAProxy checks every 500 ms per
 * listener, and a TLS handshake, SCRAM and a backend fork per check made answers on a busy host
 * slower than HAProxy's check timeout (the primary taken out and its sessions closed while it
 * served). A kept connection that fails (the server restarted, a switchover's stop) is dropped,
 * and the read is tried once more on a new one, so a restart never shows as "unreachable" once
 * the server is back.
 */
import { createServer, type Server } from 'node:http';
import type pg from 'pg';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf, nodeOf } from '../config/lookup.js';
import { judgeRole, type ServerState } from '../domain/roleHealth.js';
import type { SecretReader } from './secrets.js';
import { openServer } from './sql.js';

const STATE_SQL =
  'select pg_is_in_recovery() as in_recovery, case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end as paused';

export interface RoleEndpoint {
  /** host:port it listens on. */
  readonly address: string;
  stop(): Promise<void>;
}

/** One kept connection to the node's server, opened on first use and again after any failure. */
class KeptConnection {
  private client: Promise<pg.Client> | undefined;
  constructor(private readonly open: () => Promise<pg.Client>) {}

  /** The query's first row; a failed kept connection is replaced once, a failed new one is the error. */
  async firstRow(sql: string): Promise<Record<string, unknown>> {
    for (let attempt = 0; ; attempt++) {
      const reused = this.client !== undefined;
      const current = (this.client ??= this.open());
      try {
        return (await (await current).query(sql)).rows[0];
      } catch (err) {
        this.drop(current);
        if (!reused || attempt > 0) throw err;
      }
    }
  }

  private drop(current: Promise<pg.Client>): void {
    if (this.client === current) this.client = undefined;
    void current.then((c) => c.end()).catch(() => undefined);
  }

  async close(): Promise<void> {
    const current = this.client;
    this.client = undefined;
    await current?.then((c) => c.end()).catch(() => undefined);
  }
}

async function readState(conn: KeptConnection): Promise<ServerState> {
  try {
    const row = await conn.firstRow(STATE_SQL);
    return { inRecovery: row.in_recovery === true, replayPaused: row.paused === true };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] ?? 'unreachable' };
  }
}

/** Starts the node's endpoint; resolves once it listens (rejects naming the address if it cannot). */
export async function startRoleEndpoint(opts: {
  config: PgdrConfig;
  cluster: string;
  node: string;
  readSecret: SecretReader;
}): Promise<RoleEndpoint> {
  const nc = nodeOf(opts.config, opts.cluster, opts.node);
  const port = nc.healthPort!;
  const conn = new KeptConnection(() =>
    openServer(
      { config: opts.config, readSecret: opts.readSecret },
      opts.cluster,
      opts.node,
      { host: nc.host, port: nc.port, node: opts.node },
      undefined,
      {
        applicationName: 'pgdr role endpoint',
        // A server that stops answering must not hold every later check behind this one.
        queryTimeoutMs: clusterOf(opts.config, opts.cluster).connectTimeoutSeconds * 1000,
      },
    ),
  );
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    void readState(conn).then((state) => {
      const answer = judgeRole(opts.node, path, state);
      res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : `${JSON.stringify(answer.body)}\n`);
    });
  });
  // A check's connection is short: never let one hold the agent's shutdown.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`node ${opts.cluster}/${opts.node}: role endpoint cannot listen on ${nc.host}:${port}: ${err.message}`)),
    );
    server.listen(port, nc.host, () => resolve());
  });
  return {
    address: `${nc.host}:${port}`,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await conn.close();
    },
  };
}
