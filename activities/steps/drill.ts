/**
 * Restore drills on the drill node's host (node agent): checks against the restored scratch
 * copy, run as its superuser through the copy's private socket (see pitrRestore's
 * privateSocketDir). Drill reports are kept by adapters/reportStore.ts.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { ToolFailedError } from '../../domain/errors.js';
import { judgeAssertion, type DrillCheck } from '../../domain/drill.js';
import type { PgdrConfig } from '../../config/schema.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { runTool } from '../../adapters/gateway.js';
import { activityProgress } from '../../adapters/progress.js';
import { withNode } from '../../adapters/sql.js';
import type { SecretReader } from '../../adapters/secrets.js';

export interface DrillDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
  s3: S3Client;
}

export interface DrillChecksInput {
  cluster: string;
  node: string;
  port: number;
  socketDir: string;
  /** The source's primary, for row counts; null when none is reachable. */
  sourceNode: string | null;
  /**
   * Integrity only (an older backup at its own point): checksums and pg_amcheck, not the user's
   * assertions or row counts, which describe today's data (tables the backup predates, say).
   */
  integrityOnly?: boolean;
}

/**
 * Data checksums on, pg_amcheck of every database (heap and btree), the configured SQL
 * assertions, and row counts of the largest tables against the source (a warning only: the
 * source has moved on since the recovery point unless it was idle).
 */
export async function runDrillChecks(deps: DrillDeps, input: DrillChecksInput): Promise<{ checks: DrillCheck[]; seconds: number }> {
  const cc = clusterOf(deps.config, input.cluster);
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  const conn = ['-h', input.socketDir, '-p', String(input.port)];
  const sql = async (text: string, database: string, user: string): Promise<string> =>
    (
      await runTool({
        tool: 'psql',
        binDir: nc.binDir,
        args: ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', ...conn, '-U', user, '-d', database, '-c', text],
        osUser: nc.osUser,
        signal,
      })
    ).stdout.trim();
  const superuser = await sql('select rolname from pg_roles where oid = 10', cc.database, cc.user);
  const checks: DrillCheck[] = [];

  // 1. Data checksums.
  heartbeat({ phase: 'checksums' });
  const sums = await sql('show data_checksums', cc.database, superuser);
  checks.push({ name: 'data_checksums', kind: 'checksums', ok: sums === 'on', severity: 'error', actual: sums, expected: 'on' });

  // 2. pg_amcheck over every database: heap and btree indexes.
  heartbeat({ phase: 'pg_amcheck' });
  try {
    await runTool({
      tool: 'pg_amcheck',
      binDir: nc.binDir,
      args: [...conn, '-U', superuser, '--all', '--install-missing', '--no-strict-names'],
      osUser: nc.osUser,
      signal,
    });
    checks.push({
      name: 'pg_amcheck --all',
      kind: 'amcheck',
      ok: true,
      severity: 'error',
      actual: 'no corruption found',
      expected: 'no corruption found',
    });
  } catch (err) {
    if (!(err instanceof ToolFailedError)) throw err;
    const tail = String(err.context.stderrTail || '')
      .trim()
      .split('\n')
      .slice(-3)
      .join(' ');
    checks.push({
      name: 'pg_amcheck --all',
      kind: 'amcheck',
      ok: false,
      severity: 'error',
      actual: `exit ${err.context.exitCode}: ${tail}`,
      expected: 'no corruption found',
    });
  }

  // 3. The user's assertions.
  for (const a of input.integrityOnly ? [] : cc.drill.assertions) {
    heartbeat({ phase: 'assertions', assertion: a.name });
    try {
      const actual = await sql(a.sql, a.database ?? cc.database, superuser);
      const value = actual === '' ? null : actual.split('\n')[0]!.split('|')[0]!;
      checks.push({
        name: a.name,
        kind: 'assertion',
        ok: judgeAssertion(a.expect, value, new Date()),
        severity: 'error',
        actual: value,
        expected: a.expect,
      });
    } catch (err) {
      if (!(err instanceof ToolFailedError)) throw err;
      checks.push({
        name: a.name,
        kind: 'assertion',
        ok: false,
        severity: 'error',
        actual: null,
        expected: a.expect,
        detail: String(err.context.stderrTail).trim().split('\n').at(-1),
      });
    }
  }

  // 4. Row counts of the largest tables, against the source where pgdr may read them.
  if (cc.drill.largestTables > 0 && !input.integrityOnly) {
    heartbeat({ phase: 'row counts' });
    const dbs = (
      await sql(`select datname from pg_database where datallowconn and not datistemplate order by datname`, cc.database, superuser)
    )
      .split('\n')
      .filter(Boolean);
    const tables: { db: string; table: string; bytes: number }[] = [];
    for (const db of dbs) {
      const out = await sql(
        `select format('%I.%I', n.nspname, c.relname), pg_total_relation_size(c.oid) from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
          order by 2 desc limit ${cc.drill.largestTables}`,
        db,
        superuser,
      );
      for (const line of out.split('\n').filter(Boolean)) {
        const [table, bytes] = line.split('|');
        tables.push({ db, table: table!, bytes: Number(bytes) });
      }
    }
    for (const t of tables.sort((a, b) => b.bytes - a.bytes).slice(0, cc.drill.largestTables)) {
      const restored = await sql(`select count(*) from ${t.table}`, t.db, superuser);
      let source: string | null = null;
      let detail = '';
      if (input.sourceNode) {
        source = await withNode(
          deps,
          input.cluster,
          input.sourceNode,
          async (c) => {
            const can = (await c.query(`select has_table_privilege($1, 'select') as ok`, [t.table])).rows[0].ok;
            return can ? String((await c.query(`select count(*) as n from ${t.table}`)).rows[0].n) : null;
          },
          t.db,
        ).catch((err: Error) => {
          detail = `source not readable: ${err.message.split('\n')[0]}`;
          return null;
        });
        if (source === null && !detail) detail = `the pgdr role may not read ${t.table} on the source`;
      } else detail = 'no reachable source primary';
      checks.push({
        name: `${t.db}.${t.table}`,
        kind: 'rowcount',
        ok: source === null || source === restored,
        severity: 'warning',
        actual: restored,
        expected: source === null ? 'not compared' : `${source} (the source now)`,
        ...(detail
          ? { detail }
          : source !== restored
            ? { detail: 'the source has changed since the recovery point, or rows are missing' }
            : {}),
      });
    }
  }
  return { checks, seconds: (Date.now() - t0) / 1000 };
}

/** The drill report is stored by the report store (the activity keeps its name). */
export { storeDrillReport } from '../../adapters/reportStore.js';
