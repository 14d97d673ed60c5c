/**
 * PgBouncer in front of a cluster: PAUSE (clients wait instead of failing), RESUME, RELOAD on
 * its admin console, and the `[databases]` include file pgdr owns, rewritten to point at the
 * primary. The admin password is resolved here, by cluster name.
 */
import { chownSync, existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { PgBouncerError } from '../domain/errors.js';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf, nodeOf } from '../config/lookup.js';
import { clusterPassword, type SecretReader } from './secrets.js';

export interface PgBouncerDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
}

export type PgBouncerCommand = 'PAUSE' | 'RESUME' | 'RELOAD';

function settings(deps: PgBouncerDeps, cluster: string) {
  const pb = clusterOf(deps.config, cluster).pgbouncer;
  if (!pb) throw new PgBouncerError(cluster, 'lookup', 'the cluster has no pgbouncer section in pgdr.yaml');
  return pb;
}

/**
 * Runs one admin command. PAUSE returns once every server connection is released; past
 * timeoutSeconds the pause is undone (RESUME) and the command fails: nothing was changed.
 */
export async function pgbouncerAdmin(
  deps: PgBouncerDeps,
  input: { cluster: string; command: PgBouncerCommand; timeoutSeconds: number },
): Promise<{ seconds: number }> {
  const pb = settings(deps, input.cluster);
  const password = pb.password
    ? deps.readSecret(pb.password, `cluster "${input.cluster}" pgbouncer password`)
    : clusterPassword(deps.config, input.cluster, deps.readSecret);
  const connect = async () => {
    const c = new pg.Client({
      host: pb.host,
      port: pb.port,
      user: pb.adminUser,
      database: 'pgbouncer',
      password,
      connectionTimeoutMillis: 5000,
    });
    // A connection dropped between commands must not kill the worker; the next command fails.
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const t0 = Date.now();
  let client: pg.Client;
  try {
    client = await connect();
  } catch (err) {
    throw new PgBouncerError(
      input.cluster,
      input.command,
      `cannot connect to its admin console at ${pb.host}:${pb.port} as ${pb.adminUser}: ${(err as Error).message}`,
    );
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`did not complete within ${input.timeoutSeconds} s`)), input.timeoutSeconds * 1000);
    });
    await Promise.race([client.query(input.command), timeout]);
    return { seconds: (Date.now() - t0) / 1000 };
  } catch (err) {
    const msg = (err as Error).message;
    // RESUME when nothing is paused: the goal (clients flowing) holds.
    if (input.command === 'RESUME' && /not paused/i.test(msg)) return { seconds: (Date.now() - t0) / 1000 };
    if (input.command === 'PAUSE') {
      // Undo a pause that did not complete, on a fresh connection (this one is blocked).
      const undo = await connect().catch(() => null);
      await undo?.query('RESUME').catch(() => undefined);
      await undo?.end().catch(() => undefined);
    }
    throw new PgBouncerError(input.cluster, input.command, msg);
  } finally {
    clearTimeout(timer);
    client.end().catch(() => undefined);
  }
}

/** The databases include line pgdr writes: every database name goes to the primary. */
export function databasesLine(primary: { host: string; port: number }): string {
  return `* = host=${primary.host} port=${primary.port}`;
}

/**
 * Node agent on PgBouncer's host: rewrites the databases include file to the new primary
 * (atomically, keeping its owner and mode), then RELOADs PgBouncer (and RESUMEs it: one round trip
 * fewer while clients wait).
 */
export async function pointPgBouncer(
  deps: PgBouncerDeps,
  input: { cluster: string; primary: string; timeoutSeconds: number; resume?: boolean },
): Promise<{ file: string; line: string }> {
  const pb = settings(deps, input.cluster);
  const p = nodeOf(deps.config, input.cluster, input.primary);
  const line = databasesLine(p);
  const file = pb.databasesFile;
  const before = existsSync(file) ? statSync(file) : null;
  const tmp = `${file}.pgdr-tmp`;
  writeFileSync(tmp, `# written by pgdr: the cluster's primary is ${input.primary}\n${line}\n`, {
    mode: before ? before.mode & 0o777 : 0o644,
  });
  if (before) chownSync(tmp, before.uid, before.gid);
  renameSync(tmp, file);
  await pgbouncerAdmin(deps, { cluster: input.cluster, command: 'RELOAD', timeoutSeconds: input.timeoutSeconds });
  if (input.resume) await pgbouncerAdmin(deps, { cluster: input.cluster, command: 'RESUME', timeoutSeconds: input.timeoutSeconds });
  return { file, line };
}
