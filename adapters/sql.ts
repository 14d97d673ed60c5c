/**
 * Activities that talk to Postgres over SQL. Connections are short-lived and carry the
 * password resolved by cluster name on the worker; nothing secret leaves this module.
 */
import pg from 'pg';
import { PostgresTlsError, PostgresUnreachableError } from '../domain/errors.js';
import type { NodeProbe } from '../domain/status.js';
import { parseWalSegmentSize } from '../domain/walSegmentSize.js';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { ClusterConfig, PgdrConfig, SecretRef } from '../config/schema.js';
import { asUser } from './gateway.js';
import { clusterPassword, type SecretReader } from './secrets.js';
import { clusterOf, nodeOf } from '../config/lookup.js';
import { queryResults, type KeptSessions } from './keptConnection.js';

export interface PostgresDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
}

/** The TLS settings of connections to a node: the node's own fields override the cluster's. */
export interface PgTls {
  sslmode: ClusterConfig['sslmode'];
  sslRootCert?: string;
  sslCert?: SecretRef;
  sslKey?: SecretRef;
}

export function tlsOf(config: PgdrConfig, cluster: string, node?: string): PgTls {
  const cc = clusterOf(config, cluster);
  const nc = node === undefined ? undefined : nodeOf(config, cluster, node);
  const rootCert = nc?.sslRootCert ?? cc.sslRootCert;
  const cert = nc?.sslCert ?? cc.sslCert;
  const key = nc?.sslKey ?? cc.sslKey;
  return {
    sslmode: cc.sslmode,
    ...(rootCert ? { sslRootCert: rootCert } : {}),
    ...(cert ? { sslCert: cert } : {}),
    ...(key ? { sslKey: key } : {}),
  };
}

/** Environment for libpq tools: the password travels here, never in argv. */
export function libpqEnv(cc: ClusterConfig, password: string | undefined, appName: string): Record<string, string> {
  return {
    PGSSLMODE: cc.sslmode,
    ...(cc.sslRootCert ? { PGSSLROOTCERT: cc.sslRootCert } : {}),
    PGCONNECT_TIMEOUT: String(cc.connectTimeoutSeconds),
    PGAPPNAME: appName,
    ...(password ? { PGPASSWORD: password } : {}),
  };
}

/**
 * The libpq environment of a tool that connects to `node` as `osUser`: sslmode, root
 * certificate, password, and the client certificate and key (when configured) copied into a
 * private directory the tool's user owns (libpq refuses a key others can read). close()
 * removes that directory; call it once the tool has exited.
 */
export function openLibpqEnv(
  deps: PostgresDeps,
  at: { cluster: string; node: string; osUser: string; appName: string },
): { env: Record<string, string>; close(): void } {
  const cc = clusterOf(deps.config, at.cluster);
  const tls = tlsOf(deps.config, at.cluster, at.node);
  const env = libpqEnv({ ...cc, ...tls }, clusterPassword(deps.config, at.cluster, deps.readSecret), at.appName);
  if (!tls.sslCert || !tls.sslKey) return { env, close: () => undefined };
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-tls-'));
  const close = () => rmSync(dir, { recursive: true, force: true });
  try {
    const owner = asUser(at.osUser);
    if (owner) chownSync(dir, owner.uid, owner.gid);
    const write = (name: string, ref: SecretRef, what: string) => {
      const path = join(dir, name);
      writeFileSync(path, `${deps.readSecret(ref, `cluster "${at.cluster}" ${what}`)}\n`, { mode: 0o600 });
      if (owner) chownSync(path, owner.uid, owner.gid);
      return path;
    };
    return {
      env: { ...env, PGSSLCERT: write('client.crt', tls.sslCert, 'sslCert'), PGSSLKEY: write('client.key', tls.sslKey, 'sslKey') },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

/** openLibpqEnv around fn, closed when fn settles. */
export async function withLibpqEnv<T>(
  deps: PostgresDeps,
  at: { cluster: string; node: string; osUser: string; appName: string },
  fn: (env: Record<string, string>) => Promise<T>,
): Promise<T> {
  const tool = openLibpqEnv(deps, at);
  try {
    return await fn(tool.env);
  } finally {
    tool.close();
  }
}

/** libpq-style sslmode for node-postgres, plus the client certificate when there is one. */
export function sslOptions(cc: PgTls, client?: { cert: string; key: string }): false | ConnectionOptions {
  const server = serverVerification(cc);
  return server && client ? { ...server, ...client } : server;
}

/** verify-ca checks the chain, verify-full the host name too. */
function serverVerification(cc: PgTls): false | ConnectionOptions {
  if (cc.sslmode === 'disable') return false;
  if (cc.sslmode === 'require') return { rejectUnauthorized: false };
  const ca = cc.sslRootCert ? readFileSync(cc.sslRootCert, 'utf8') : undefined;
  return cc.sslmode === 'verify-ca'
    ? { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }
    : { ca, rejectUnauthorized: true };
}

/** Node's TLS errors that mean the handshake itself was refused, not that the server was down. */
const TLS_CODES = /^(ERR_TLS_|CERT_|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_|ERR_SSL_)/;

function tlsReason(err: Error & { code?: string }): string | undefined {
  // Node 24 appends advice about --use-system-ca, which does not apply: pgdr trusts sslRootCert only.
  if (err.code && TLS_CODES.test(err.code)) return `${err.message.replace(/; if the root CA is installed locally.*$/s, '')} (${err.code})`;
  if (/does not support SSL connections/.test(err.message)) return err.message;
  return undefined;
}

/** Opens a connection to one node, runs fn, and always closes it. */
export async function withNode<T>(
  deps: PostgresDeps,
  cluster: string,
  node: string,
  fn: (c: pg.Client) => Promise<T>,
  database?: string,
): Promise<T> {
  const nc = nodeOf(deps.config, cluster, node);
  return withServer(deps, cluster, node, { host: nc.host, port: nc.port, node }, fn, database);
}

/** Like withNode, for a server of the cluster at another address (a restored instance); `at.node`'s TLS settings apply, else the cluster's. */
export async function withServer<T>(
  deps: PostgresDeps,
  cluster: string,
  label: string,
  at: { host: string; port: number; node?: string },
  fn: (c: pg.Client) => Promise<T>,
  database?: string,
): Promise<T> {
  const client = await openServer(deps, cluster, label, at, database);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A connected client to one server of the cluster (the caller ends it); a failure to connect is
 * PostgresTlsError or PostgresUnreachableError naming the address. `queryTimeoutMs` fails a query
 * that gets no answer for that long (the connection is then unusable: end it).
 */
export async function openServer(
  deps: PostgresDeps,
  cluster: string,
  label: string,
  at: { host: string; port: number; node?: string },
  database?: string,
  o: { applicationName?: string; queryTimeoutMs?: number } = {},
): Promise<pg.Client> {
  const cc = clusterOf(deps.config, cluster);
  const tls = tlsOf(deps.config, cluster, at.node);
  const cert =
    tls.sslCert && tls.sslKey
      ? {
          cert: deps.readSecret(tls.sslCert, `cluster "${cluster}" sslCert`),
          key: deps.readSecret(tls.sslKey, `cluster "${cluster}" sslKey`),
        }
      : undefined;
  const client = new pg.Client({
    host: at.host,
    port: at.port,
    user: cc.user,
    database: database ?? cc.database,
    password: clusterPassword(deps.config, cluster, deps.readSecret),
    connectionTimeoutMillis: cc.connectTimeoutSeconds * 1000,
    // A Unix socket (a host that is a directory) carries no TLS: the server refuses to start it there.
    ssl: at.host.startsWith('/') ? false : sslOptions(tls, cert),
    application_name: o.applicationName ?? 'pgdr',
    ...(o.queryTimeoutMs ? { query_timeout: o.queryTimeoutMs } : {}),
  });
  // A server that dies or is stopped between two queries (a switchover, a crash) makes the
  // client emit 'error'; unheard, that would kill the whole worker. The next query fails instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const address = `${at.host}:${at.port}`;
    const reason = tlsReason(err as Error);
    if (reason && cc.sslmode !== 'disable')
      throw new PostgresTlsError(cluster, label, address, cc.sslmode, tls.sslRootCert ?? null, reason);
    throw new PostgresUnreachableError(cluster, label, address, (err as Error).message);
  }
  return client;
}

const PROBE_SQL = `
select pg_is_in_recovery() as in_recovery,
       (select system_identifier::text from pg_control_system()) as system_identifier,
       current_setting('server_version_num')::int as server_version,
       current_setting('wal_segment_size') as wal_segment_size,
       current_setting('data_checksums') = 'on' as data_checksums,
       current_setting('archive_mode') as archive_mode,
       case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as current_lsn,
       case when pg_is_in_recovery()
            then coalesce((select received_tli from pg_stat_wal_receiver), (select timeline_id from pg_control_checkpoint()))
            else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end as timeline,
       pg_last_wal_receive_lsn()::text as receive_lsn,
       pg_last_wal_replay_lsn()::text as replay_lsn,
       case when pg_is_in_recovery() then extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 end as replay_delay,
       case when pg_is_in_recovery() then pg_get_wal_replay_pause_state() <> 'not paused' end as replay_paused,
       current_setting('synchronous_standby_names') as sync_names,
       now() as probed_at`;

const ARCHIVER_SQL = `
select archived_count::int, last_archived_wal, last_archived_time, failed_count::int, last_failed_wal, last_failed_time
  from pg_stat_archiver`;

const REPLICATION_SQL = `
select r.application_name, r.client_addr::text, r.state, r.sync_state, r.sent_lsn::text, r.replay_lsn::text,
       -- Guarded: on a standby (a cascade's senders, discarded) pg_current_wal_lsn() is an error.
       case when pg_is_in_recovery() then null else pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 end as replay_lag_bytes,
       extract(epoch from r.replay_lag)::float8 as replay_lag_seconds,
       s.slot_name
  from pg_stat_replication r left join pg_replication_slots s on s.active_pid = r.pid
 order by r.application_name`;

const RECEIVER_SQL = `select status, sender_host, sender_port, slot_name, received_tli from pg_stat_wal_receiver`;

const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : v == null ? null : String(v));

/** PostgresDeps with a node agent's kept sessions, when the caller has them. */
export type NodeReadDeps = PostgresDeps & { sessions?: KeptSessions };

/**
 * The results of a read (`sql` without parameters; several statements go as one round trip) of
 * a node's server: over the agent's kept session to it when `deps.sessions` is there
 * (adapters/keptConnection.ts), else over a connection of its own. Only for short reads: on the
 * kept session each must answer within connectTimeoutSeconds, and the reads after it wait.
 */
export async function readNode(deps: NodeReadDeps, cluster: string, node: string, sql: string): Promise<pg.QueryResult[]> {
  const nc = nodeOf(deps.config, cluster, node);
  const kept = deps.sessions?.of(`${cluster}/${node}`, () =>
    openServer(deps, cluster, node, { host: nc.host, port: nc.port, node }, undefined, {
      applicationName: 'pgdr agent',
      // A server that stops answering fails the read, as a new connection's timeout would.
      queryTimeoutMs: clusterOf(deps.config, cluster).connectTimeoutSeconds * 1000,
    }),
  );
  if (kept) return kept.results(sql);
  return withNode(deps, cluster, node, (c) => queryResults(c, sql));
}

/** All four reads of a probe as one simple query: one round trip, one snapshot of the statistics. */
const PROBE_ALL = [PROBE_SQL, ARCHIVER_SQL, REPLICATION_SQL, RECEIVER_SQL].join(';\n');

/**
 * Role, timeline, LSNs, archiver and replication figures of one node. An agent probes its own
 * server over its kept session (`deps.sessions`, adapters/keptConnection.ts); without one, over a
 * connection of its own.
 */
export async function probeNode(deps: NodeReadDeps, cluster: string, node: string): Promise<NodeProbe> {
  const results = await readNode(deps, cluster, node, PROBE_ALL);
  const [p, a] = [results[0]!.rows[0], results[1]!.rows[0]];
  const standby = p.in_recovery as boolean;
  // A cascading standby's own senders are not reported, as before the reads were one query.
  const replication = standby ? [] : results[2]!.rows;
  const receiver = standby ? results[3]!.rows[0] : undefined;
  return {
    node,
    role: standby ? 'standby' : 'primary',
    systemIdentifier: p.system_identifier,
    serverVersion: p.server_version,
    segmentBytes: parseWalSegmentSize(p.wal_segment_size),
    timeline: Number(p.timeline),
    currentLsn: p.current_lsn,
    receiveLsn: p.receive_lsn,
    replayLsn: p.replay_lsn,
    replayDelaySeconds: p.replay_delay,
    replayPaused: p.replay_paused ?? null,
    synchronousStandbyNames: p.sync_names ?? '',
    dataChecksums: p.data_checksums,
    archiveMode: p.archive_mode,
    archiver: {
      archivedCount: a.archived_count,
      lastArchivedWal: a.last_archived_wal,
      lastArchivedAt: iso(a.last_archived_time),
      failedCount: a.failed_count,
      lastFailedWal: a.last_failed_wal,
      lastFailedAt: iso(a.last_failed_time),
    },
    replication: replication.map((r) => ({
      applicationName: r.application_name,
      clientAddr: r.client_addr,
      state: r.state,
      syncState: r.sync_state,
      sentLsn: r.sent_lsn,
      replayLsn: r.replay_lsn,
      replayLagBytes: r.replay_lag_bytes,
      replayLagSeconds: r.replay_lag_seconds,
      slotName: r.slot_name ?? null,
    })),
    walReceiver: receiver
      ? {
          status: receiver.status,
          senderHost: receiver.sender_host,
          senderPort: receiver.sender_port,
          slotName: receiver.slot_name,
          receivedTimeline: receiver.received_tli,
        }
      : null,
    probedAt: iso(p.probed_at) ?? new Date().toISOString(),
  };
}
