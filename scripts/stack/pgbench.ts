/**
 * pgbench (PostgreSQL 15) through any host:port, e.g. a PgBouncer, for tests and benchmarks
 * that measure what clients see: committed transactions, failures, and the longest stall.
 * Runs as the Postgres OS user; the password travels in PGPASSWORD only.
 *
 * What counts as a failed client transaction (pgbench 15, `--max-tries=1`):
 * - a serialization or deadlock failure: pgbench logs it as `failed` and the client goes on;
 *   with one try nothing is retried, so a failure an application without retry logic would
 *   see is never hidden by a successful retry;
 * - any other error (connection lost, pooler error, SQL error) aborts the client: pgbench logs
 *   `client N ... aborted` on stderr, exits with 2, and counts the transaction nowhere, so we
 *   add one failed transaction per aborted client.
 */
import { availableParallelism, tmpdir } from 'node:os';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asUser, runTool, spawnTool } from '../../adapters/gateway.js';
import { ToolFailedError } from '../../domain/errors.js';
import type { StackLayout } from './layout.js';

const STDERR_TAIL_CHARS = 2000;

export interface PgbenchResult {
  /** Committed transactions ("number of transactions actually processed"). */
  transactions: number;
  /** Serialization/deadlock failures plus one transaction per aborted client. */
  failed: number;
  abortedClients: number;
  /** The slowest committed transaction, from its start to its commit. */
  maxLatencyMs: number;
  /** The longest interval in which no client committed a transaction, up to the run's end. */
  longestGapMs: number;
  /** pgbench's tps without connection time; committed transactions per second of the run. */
  tps: number;
  stderrTail: string;
}

/** What pgbench needs of a stack: where the Postgres tools are and the OS user that runs them. */
export type PgTools = Pick<StackLayout, 'pgBin' | 'pgUser'>;

export interface PgbenchTarget {
  host: string;
  port: number;
  database: string;
  password: string;
  /** @default 'postgres' */
  user?: string;
}

function connArgs(t: PgbenchTarget): string[] {
  return ['-h', t.host, '-p', String(t.port), '-U', t.user ?? 'postgres'];
}

/** A directory the Postgres OS user may write (pgbench's logs, the script). */
function runDir(osUser: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-pgbench-'));
  const ids = asUser(osUser);
  if (ids) chownSync(dir, ids.uid, ids.gid);
  return dir;
}

/** `pgbench -i`: the pgbench_* tables at the given scale (100,000 accounts per unit). */
export async function pgbenchInit(layout: PgTools, opts: PgbenchTarget & { scale: number }): Promise<void> {
  await runTool({
    tool: 'pgbench',
    binDir: layout.pgBin,
    args: ['-i', '-q', '-s', String(opts.scale), ...connArgs(opts), opts.database],
    osUser: layout.pgUser,
    env: { PGPASSWORD: opts.password },
  });
}

interface LogStats {
  committed: number;
  failedInLog: number;
  maxLatencyMs: number;
  /** Wall-clock ms of the first transaction's start and the last commit. */
  firstStartMs: number;
  lastCommitMs: number;
  longestGapMs: number;
}

/**
 * Reads every per-thread log (`prefix.<pid>` and `prefix.<pid>.<thread>`). Each line is
 * `client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]`, where
 * time is the latency in µs, or `failed` (also `serialization`/`deadlock`, `skipped`), and
 * time_epoch.time_us is when the transaction ended.
 */
function readLogs(dir: string, prefix: string, endMs: number | undefined, plannedMs: number): LogStats {
  const commits: number[] = [];
  let failedInLog = 0;
  let maxLatencyUs = 0;
  let firstStartMs = Infinity;
  for (const file of readdirSync(dir).filter((f) => f.startsWith(`${prefix}.`))) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f.length < 6) continue;
      const endedMs = Number(f[4]) * 1000 + Number(f[5]) / 1000;
      if (!/^\d+$/.test(f[2]!)) {
        if (f[2] !== 'skipped') failedInLog++;
        continue;
      }
      const latencyUs = Number(f[2]);
      commits.push(endedMs);
      if (latencyUs > maxLatencyUs) maxLatencyUs = latencyUs;
      if (endedMs - latencyUs / 1000 < firstStartMs) firstStartMs = endedMs - latencyUs / 1000;
    }
  }
  const sorted = Float64Array.from(commits).sort();
  // From the first start to the first commit, between commits, and from the last commit to the
  // end of the run: a stall that lasts until pgbench ends is a gap too.
  let longestGapMs = 0;
  let prev = firstStartMs;
  for (const t of sorted) {
    longestGapMs = Math.max(longestGapMs, t - prev);
    prev = t;
  }
  const lastCommitMs = sorted.length ? sorted[sorted.length - 1]! : NaN;
  if (sorted.length) longestGapMs = Math.max(longestGapMs, (endMs ?? firstStartMs + plannedMs) - lastCommitMs);
  return { committed: sorted.length, failedInLog, maxLatencyMs: maxLatencyUs / 1000, firstStartMs, lastCommitMs, longestGapMs };
}

function summaryNumber(stdout: string, re: RegExp): number | undefined {
  const m = re.exec(stdout);
  return m ? Number(m[1]) : undefined;
}

/**
 * Runs pgbench for `seconds` with `clients` connections (extended protocol with unnamed
 * statements, which transaction pooling supports; never `-M prepared`). `script` is custom
 * SQL (pgbench variables such as :client_id allowed); default the built-in tpcb-like.
 * stop() ends the run early (SIGTERM): pgbench then prints no summary and loses its last
 * buffered log lines, so counts are approximate. finish() ends it early as its -T would
 * (SIGALRM, pgbench's own timer signal: each client ends its transaction, logs are flushed and
 * the summary printed), so counts stay exact: `seconds` is then only an upper bound.
 * `done` rejects only when pgbench could not run at all (bad options, no initial connection).
 */
export function pgbenchRun(
  layout: PgTools,
  opts: PgbenchTarget & { clients: number; seconds: number; script?: string },
): { done: Promise<PgbenchResult>; stop(): void; finish(): void } {
  const dir = runDir(layout.pgUser);
  const prefix = 'pgbench_log';
  const workload: string[] = [];
  if (opts.script !== undefined) {
    const scriptFile = join(dir, 'script.sql');
    writeFileSync(scriptFile, opts.script.endsWith('\n') ? opts.script : `${opts.script}\n`, { mode: 0o644 });
    // -n: a custom script has no pgbench_* tables to vacuum first.
    workload.push('-n', '-f', scriptFile);
  } else {
    workload.push('-b', 'tpcb-like');
  }
  const abort = new AbortController();
  const startMs = Date.now();
  let finishing = false;
  const proc = spawnTool({
    tool: 'pgbench',
    binDir: layout.pgBin,
    args: [
      ...connArgs(opts),
      '-c',
      String(opts.clients),
      '-j',
      String(Math.max(1, Math.min(opts.clients, availableParallelism()))),
      '-T',
      String(opts.seconds),
      '-M',
      'extended',
      '--max-tries=1',
      '--log',
      `--log-prefix=${join(dir, prefix)}`,
      ...workload,
      opts.database,
    ],
    osUser: layout.pgUser,
    env: { PGPASSWORD: opts.password },
    cwd: dir,
    signal: abort.signal,
  });

  const done = (async (): Promise<PgbenchResult> => {
    try {
      const res = await proc;
      const endMs = Date.now();
      const stdout = String(res.stdout ?? '');
      const stderr = String(res.stderr ?? '');
      // pgbench sets its SIGALRM handler once its first connection is made: a finish() before
      // that ends it by the signal's default action, with nothing counted.
      if (finishing && res.signal === 'SIGALRM')
        throw new Error('pgbench ended by SIGALRM before it had set its timer: finish() came before its first connection');
      // 0: done; 2: some clients aborted (results still printed); cancelled: our stop().
      if (!res.isCanceled && res.exitCode !== 0 && res.exitCode !== 2) {
        throw new ToolFailedError('pgbench', res.exitCode ?? null, stderr.slice(-STDERR_TAIL_CHARS), res.signal ?? undefined);
      }
      // A run that ends by itself ends at its planned end, even when every client aborted
      // early (nothing committed from then on); a stopped one when we stopped it.
      const endedEarly = res.isCanceled || finishing;
      const log = readLogs(dir, prefix, endedEarly ? endMs : undefined, opts.seconds * 1000);
      const aborted = new Set([...stderr.matchAll(/\bclient (\d+)\b[^\n]*?\baborted\b/g)].map((m) => m[1]));
      const transactions = summaryNumber(stdout, /number of transactions actually processed: (\d+)/) ?? log.committed;
      const failedLine = summaryNumber(stdout, /number of failed transactions: (\d+)/) ?? log.failedInLog;
      const seconds = (log.lastCommitMs - log.firstStartMs) / 1000;
      const tps = summaryNumber(stdout, /^tps = ([\d.]+)/m) ?? (seconds > 0 ? log.committed / seconds : 0);
      return {
        transactions,
        failed: failedLine + aborted.size,
        abortedClients: aborted.size,
        maxLatencyMs: log.maxLatencyMs,
        longestGapMs: log.committed ? log.longestGapMs : endedEarly ? endMs - startMs : opts.seconds * 1000,
        tps,
        stderrTail: stderr.slice(-STDERR_TAIL_CHARS),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  return {
    done,
    stop: () => abort.abort(),
    finish: () => {
      if (finishing || proc.exitCode !== null) return;
      finishing = true;
      proc.kill('SIGALRM');
    },
  };
}
