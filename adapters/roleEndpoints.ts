/**
 * The HTTP face of a node agent's role checks (domain/roleHealth.ts): one small server per node
 * that has `healthPort`, bound to the node's own address, answering GET /primary, /replica and
 * /health from a fresh read of that node's server for every request (no cache: a switchover must
 * show at the next check, not at the next refresh).
 *
 * The reads go over one kept connection (adapters/keptConnection.ts), not a new one per check:
 * HAProxy checks every 500 ms per listener, and a TLS handshake, SCRAM and a backend fork per
 * check made answers on a busy host slower than HAProxy's check timeout (the primary taken out and
 * its sessions closed while it served).
 */
import { createServer, type Server } from 'node:http';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf, nodeOf } from '../config/lookup.js';
import { judgeRole, type ServerState } from '../domain/roleHealth.js';
import type { SecretReader } from './secrets.js';
import { openServer } from './sql.js';
import { KeptConnection } from './keptConnection.js';

const STATE_SQL =
  'select pg_is_in_recovery() as in_recovery, case when pg_is_in_recovery() then pg_is_wal_replay_paused() else false end as paused';

export interface RoleEndpoint {
  /** host:port it listens on. */
  readonly address: string;
  stop(): Promise<void>;
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
