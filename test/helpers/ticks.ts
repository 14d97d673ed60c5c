/**
 * A steady trickle of commits for point-in-time restore tests: one row about every interval,
 * each with the server's clock just before and just after its commit, and the insert LSN after
 * it. A target between one row's "after" and the next row's "before" must recover exactly the
 * rows up to the first.
 */
import type pg from 'pg';

export interface Tick {
  id: number;
  /** Server time (UTC, microseconds) just before the row's insert, and just after its commit. */
  before: string;
  after: string;
  /** pg_current_wal_insert_lsn() right after the commit. */
  lsnAfter: string;
}

const NOW = `to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export async function writeTicks(c: pg.Client, table: string, seconds: number, intervalMs = 200): Promise<Tick[]> {
  await c.query(`create table if not exists ${table} (id int primary key, at timestamptz not null)`);
  const ticks: Tick[] = [];
  const end = Date.now() + seconds * 1000;
  for (let id = 1; Date.now() < end; id++) {
    const t0 = Date.now();
    const before = (await c.query(`select ${NOW} as t`)).rows[0].t as string;
    await c.query(`insert into ${table} values ($1, clock_timestamp())`, [id]);
    const r = (await c.query(`select ${NOW} as t, pg_current_wal_insert_lsn()::text as lsn`)).rows[0];
    ticks.push({ id, before, after: r.t, lsnAfter: r.lsn });
    await new Promise((res) => setTimeout(res, Math.max(0, intervalMs - (Date.now() - t0))));
  }
  return ticks;
}

/** The middle of the quiet time after tick k: after its commit, before the next insert. */
export function timeAfter(ticks: Tick[], k: number): string {
  const a = Date.parse(ticks[k - 1]!.after);
  const b = Date.parse(ticks[k]!.before);
  return new Date(Math.floor((a + b) / 2)).toISOString();
}

/**
 * Closes the current segment and waits until the archiver reports it archived. The wait fails
 * when the archiver makes no progress for `timeoutMs` (a stall, or a failing archive_command),
 * not when a backlog drains slowly: on a loaded machine ten segments behind is a queue, not a fault.
 */
export async function switchAndArchive(c: pg.Client, timeoutMs = 60_000): Promise<string> {
  const seg = (await c.query(`select pg_walfile_name(pg_switch_wal()) as s`)).rows[0].s as string;
  let deadline = Date.now() + timeoutMs;
  let seen: string | null = null;
  for (;;) {
    const r = (await c.query(`select last_archived_wal, last_failed_wal from pg_stat_archiver`)).rows[0];
    if (r.last_archived_wal && r.last_archived_wal >= seg) return seg;
    if (r.last_archived_wal !== seen) {
      seen = r.last_archived_wal;
      deadline = Date.now() + timeoutMs;
    }
    if (Date.now() > deadline)
      throw new Error(
        `segment ${seg} was not archived: no progress for ${timeoutMs} ms (last archived ${r.last_archived_wal}, last failed ${r.last_failed_wal})`,
      );
    await new Promise((res) => setTimeout(res, 200));
  }
}
