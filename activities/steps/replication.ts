/**
 * Streaming replication on a node's host (node agent): stop and start a server, read its
 * shutdown checkpoint, clone it from the primary, make it a standby of a given primary
 * (pg_rewind first when it was a primary), promote, repoint, and wait until it streams.
 *
 * A node's own configuration files are its identity (port, paths, pg_hba): a clone or a rewind
 * copies the primary's, so pgdr puts the node's own back before it starts.
 */
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ReplicationPreconditionError, ServerStartFailedError, StandbyNotStreamingError, ToolFailedError } from '../../domain/errors.js';
import { confString } from '../../domain/pgconf.js';
import { primaryConninfo, replayedPast, replayedTo } from '../../domain/replication.js';
import { defaultSlotName, type PgdrConfig } from '../../config/schema.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import { archiveCommands, copyRestoreCommand } from '../../config/archiveCommands.js';
import { tryPrefetcher } from '../../adapters/walPrefetcher.js';
import { prefetchSpool } from '../../domain/walAgent.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Repository } from '../../config/repositories.js';
import { asUser, runTool } from '../../adapters/gateway.js';
import { parseBaseBackupStderr } from './basebackup.js';
import { rebuildTablespaceMapping } from './restoreTablespaces.js';
import { TABLESPACES_SQL, type BackupTablespace } from '../../domain/tablespaces.js';
import { activityProgress, every } from '../../adapters/progress.js';
import { tlsOf, withLibpqEnv, withNode, type PgTls } from '../../adapters/sql.js';
import { emptyDir, own, runningPid } from '../../adapters/pgHost.js';
import type { SecretReader } from '../../adapters/secrets.js';
import { startPostgres, stopPostgres } from '../../adapters/serverStart.js';
import { parseServerManager } from '../../domain/serverManager.js';

/** A rebuilt standby's prefetcher stops this long after the last segment it was asked for. */
const STANDBY_PREFETCH_IDLE_MS = 30_000;

export interface ReplicationDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
  /** Storage, for the prefetcher of a standby that catches up from the archive. */
  s3?: S3Client;
}

interface NodeTarget {
  cluster: string;
  node: string;
}

/** Where pg_ctl writes the server log of a server pgdr starts. */
export const SERVER_LOG = 'pgdr-server.log';

/** The slot a node streams from when it is a standby. */
export function slotOf(config: PgdrConfig, cluster: string, node: string): string {
  return nodeOf(config, cluster, node).slot ?? defaultSlotName(node);
}

/** Stops the node's own server through its manager (pg_ctl, pg_ctlcluster or systemctl). */
function stopNodeServer(deps: ReplicationDeps, r: NodeTarget, mode: 'fast' | 'immediate', wait: boolean, timeoutSeconds = 120) {
  const nc = nodeOf(deps.config, r.cluster, r.node);
  return stopPostgres({
    node: r.node,
    binDir: nc.binDir,
    dataDir: nc.dataDir,
    osUser: nc.osUser,
    manager: parseServerManager(nc.manager),
    mode,
    wait,
    timeoutSeconds,
  });
}

/** Stops the node's server (fast; immediate when fast does not finish). */
export async function stopServer(
  deps: ReplicationDeps,
  input: NodeTarget & { mode?: 'fast' | 'immediate' },
): Promise<{ wasRunning: boolean }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  if (runningPid(nc.dataDir) === null) return { wasRunning: false };
  try {
    await stopNodeServer(deps, input, input.mode ?? 'fast', true);
  } catch (err) {
    if (input.mode === 'immediate' || runningPid(nc.dataDir) === null) throw err;
    await stopNodeServer(deps, input, 'immediate', true, 60);
  }
  return { wasRunning: true };
}

/**
 * Starts the node's server unless it runs; waits until it accepts connections (or is a standby
 * in recovery). One still starting after 300 s is alive and left to the caller's wait; one that
 * exits while starting is ServerStartFailedError (PortUnavailableError when its port is taken).
 */
export async function startServer(deps: ReplicationDeps, input: NodeTarget): Promise<{ started: boolean }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  if (runningPid(nc.dataDir) !== null) return { started: false };
  const { heartbeat, signal } = activityProgress();
  // A standby catching up from the archive (a rebuild from a backup) replays from a prefetch
  // spool; its prefetcher stops by itself once the standby streams and asks for nothing.
  const auto = join(nc.dataDir, 'postgresql.auto.conf');
  if (deps.s3 && existsSync(auto) && readFileSync(auto, 'utf8').includes(prefetchSpool(nc.dataDir)))
    await tryPrefetcher({
      config: deps.config,
      cluster: input.cluster,
      dataDir: nc.dataDir,
      osUser: nc.osUser,
      s3: deps.s3,
      readSecret: deps.readSecret,
      idleStopMs: STANDBY_PREFETCH_IDLE_MS,
    });
  const out = await startPostgres({
    node: input.node,
    binDir: nc.binDir,
    dataDir: nc.dataDir,
    osUser: nc.osUser,
    logFile: join(nc.dataDir, SERVER_LOG),
    manager: parseServerManager(nc.manager),
    port: nc.port,
    signal,
    onWait: () => heartbeat({ phase: 'starting the server', node: input.node }),
  });
  if (out.state === 'exited') throw new ServerStartFailedError(input.node, nc.dataDir, out.reason);
  return { started: true };
}

export interface ControlFacts {
  state: string;
  checkpointLsn: string;
  redoLsn: string;
  timeline: number;
}

/** pg_controldata of the node's (stopped) data directory: cluster state and the latest checkpoint. */
export async function readControlData(deps: ReplicationDeps, input: NodeTarget): Promise<ControlFacts> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const out = (await runTool({ tool: 'pg_controldata', binDir: nc.binDir, args: ['-D', nc.dataDir], osUser: nc.osUser })).stdout;
  const field = (name: string) => new RegExp(`^${name.replace(/[()']/g, '\\$&')}:\\s*(.+)$`, 'm').exec(out)?.[1]?.trim() ?? '';
  return {
    state: field('Database cluster state'),
    checkpointLsn: field('Latest checkpoint location'),
    redoLsn: field("Latest checkpoint's REDO location"),
    timeline: Number(field("Latest checkpoint's TimeLineID")),
  };
}

/** The fence's stop: a fast stop through the node's manager, then pg_controldata (one round trip while clients wait). */
export async function stopAndReadControl(
  deps: ReplicationDeps,
  input: NodeTarget,
): Promise<{ wasRunning: boolean; control: ControlFacts }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const wasRunning = runningPid(nc.dataDir) !== null;
  if (wasRunning) {
    // pg_ctl -w looks every 100 ms; clients are paused, so ask without waiting and look every 10 ms.
    await stopNodeServer(deps, input, 'fast', false);
    const deadline = Date.now() + 120_000;
    while (runningPid(nc.dataDir) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (runningPid(nc.dataDir) !== null) await stopServer(deps, { ...input, mode: 'fast' });
  }
  return { wasRunning, control: await readControlData(deps, input) };
}

/**
 * Waits (briefly, clients not yet paused) until the node's archiver has no segment waiting
 * (.ready). A fast shutdown archives every waiting segment before the server exits, one
 * archive_command each, while clients are paused; draining first keeps that out of the pause.
 * Gives up after timeoutSeconds (WAL keeps coming under load) and says how many were left.
 */
export async function awaitArchiverIdle(
  deps: ReplicationDeps,
  input: NodeTarget & { timeoutSeconds: number },
): Promise<{ idle: boolean; ready: number; seconds: number }> {
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  return withNode(deps, input.cluster, input.node, async (c) => {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const ready = Number((await c.query(`select count(*) as n from pg_ls_archive_statusdir() where name like '%.ready'`)).rows[0].n);
      const seconds = (Date.now() - t0) / 1000;
      if (ready === 0 || seconds >= input.timeoutSeconds) return { idle: ready === 0, ready, seconds };
      heartbeat({ waitingFor: 'the archiver to catch up', ready });
      await new Promise((r) => setTimeout(r, 20));
    }
  });
}

/** CHECKPOINT on the node: the shutdown checkpoint after it has little left to write. */
export async function checkpoint(deps: ReplicationDeps, input: NodeTarget): Promise<void> {
  await withNode(deps, input.cluster, input.node, (c) => c.query('checkpoint'));
}

/**
 * Waits until the node (a standby) has replayed past `lsn` (the old primary's shutdown
 * checkpoint), or up to it (`endOfWal`: the primary's WAL end before the fence). Fails fast when its server is not running; returns ok false on timeout.
 */
export async function awaitReplayed(
  deps: ReplicationDeps,
  input: NodeTarget & {
    lsn: string;
    timeoutSeconds: number;
    /** What lsn is, for the reason. @default 'the shutdown checkpoint' */
    what?: string;
    /** lsn is the end of WAL written (pg_current_wal_lsn): replay at it is enough. Default: a record's start, to pass. */
    endOfWal?: boolean;
  },
): Promise<{ ok: boolean; replayLsn: string | null; reason: string | null }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  let replayLsn: string | null = null;
  let lastError = '';
  for (;;) {
    if (signal.aborted) throw signal.reason;
    if (runningPid(nc.dataDir) === null)
      return { ok: false, replayLsn, reason: `the candidate's server is not running (no live postmaster in ${nc.dataDir})` };
    try {
      replayLsn = await withNode(
        deps,
        input.cluster,
        input.node,
        async (c) => (await c.query('select pg_last_wal_replay_lsn()::text as lsn')).rows[0].lsn as string | null,
      );
      if (input.endOfWal ? replayedTo(replayLsn, input.lsn) : replayedPast(replayLsn, input.lsn))
        return { ok: true, replayLsn, reason: null };
    } catch (err) {
      lastError = (err as Error).message;
    }
    heartbeat({ waitingFor: `replay past ${input.lsn}`, replayLsn });
    if (Date.now() - t0 > input.timeoutSeconds * 1000) {
      return {
        ok: false,
        replayLsn,
        reason: `the candidate replayed only to ${replayLsn ?? 'unknown'} within ${input.timeoutSeconds} s, not ${input.endOfWal ? 'up to' : 'past'} ${input.what ?? 'the shutdown checkpoint'} at ${input.lsn}${lastError ? ` (last error: ${lastError})` : ''}`,
      };
    }
    // Clients are paused meanwhile: look often.
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * pg_promote on the node, then a close watch until it left recovery (pg_promote's own wait
 * looks only every 100 ms, while clients are paused); reports the outcome and its timeline.
 */
export async function promote(
  deps: ReplicationDeps,
  input: NodeTarget & { timeoutSeconds?: number },
): Promise<{ promoted: boolean; timeline: number | null; detail: string }> {
  return withNode(deps, input.cluster, input.node, async (c) => {
    let detail = '';
    try {
      await c.query('select pg_promote(false)');
      const deadline = Date.now() + (input.timeoutSeconds ?? 60) * 1000;
      for (;;) {
        if (!(await c.query('select pg_is_in_recovery() as rec')).rows[0].rec) {
          detail = 'promoted';
          break;
        }
        if (Date.now() > deadline) {
          detail = `still in recovery ${input.timeoutSeconds ?? 60} s after pg_promote`;
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    } catch (err) {
      detail = `pg_promote failed: ${(err as Error).message}`;
    }
    const row = (
      await c.query(
        `select pg_is_in_recovery() as rec, case when pg_is_in_recovery() then null else ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int end as tli`,
      )
    ).rows[0];
    return { promoted: !row.rec, timeline: row.tli ?? null, detail };
  });
}

/**
 * restore_command on a running node, for the moments of a switchover: `off` clears it (the
 * candidate streams; each archive miss during promotion costs a `wal fetch`) and returns what
 * ALTER SYSTEM had set before, `restore` puts that back (null: RESET to the config file's),
 * `pgdr` sets pgdr's own (a rejoined old primary, once it streams).
 */
export async function setRestoreCommand(
  deps: ReplicationDeps,
  input: NodeTarget & { mode: 'off' | 'restore' | 'pgdr'; previous?: string | null },
): Promise<{ previous: string | null }> {
  return withNode(deps, input.cluster, input.node, async (c) => {
    const row = (
      await c.query(
        `select setting, coalesce(sourcefile, '') like '%postgresql.auto.conf' as auto from pg_settings where name = 'restore_command'`,
      )
    ).rows[0];
    const previous = row.auto ? (row.setting as string) : null;
    const set = (v: string) => c.query(`alter system set restore_command = '${v.replace(/'/g, "''")}'`);
    if (input.mode === 'off') await set('');
    else if (input.mode === 'pgdr') await set(archiveCommands(deps.config, input.cluster).restoreCommand);
    else if (input.previous) await set(input.previous);
    else await c.query('alter system reset restore_command');
    await c.query('select pg_reload_conf()');
    return { previous: input.mode === 'off' ? previous : null };
  });
}

/** A physical slot for a standby on the primary, unless it exists. */
export async function ensureSlot(deps: ReplicationDeps, input: NodeTarget & { slot: string }): Promise<{ created: boolean }> {
  return withNode(deps, input.cluster, input.node, async (c) => {
    const r = await c.query(
      'select pg_create_physical_replication_slot($1) from (select 1) x where not exists (select from pg_replication_slots where slot_name = $1)',
      [input.slot],
    );
    return { created: (r.rowCount ?? 0) > 0 };
  });
}

/** synchronous_standby_names on a running primary (ALTER SYSTEM + reload). */
export async function setSynchronousStandbyNames(deps: ReplicationDeps, input: NodeTarget & { value: string }): Promise<void> {
  await withNode(deps, input.cluster, input.node, async (c) => {
    await c.query(`alter system set synchronous_standby_names = '${input.value.replace(/'/g, "''")}'`);
    await c.query('select pg_reload_conf()');
  });
}

/** Top-level *.conf files of a data directory (postgresql.conf, pg_hba.conf, includes): the node's own. */
function configFiles(dataDir: string): string[] {
  try {
    return readdirSync(dataDir).filter((f) => f.endsWith('.conf') && f !== 'postgresql.auto.conf' && statSync(join(dataDir, f)).isFile());
  } catch {
    return [];
  }
}

function copyConfig(from: string, to: string, osUser: string): string[] {
  const files = configFiles(from);
  for (const f of files) {
    copyFileSync(join(from, f), join(to, f));
    own(join(to, f), osUser);
  }
  return files;
}

const STANDBY_KEYS = /^\s*(primary_conninfo|primary_slot_name|port|recovery_target\w*|hot_standby)\s*=/;

/**
 * Makes the node's (stopped) data directory a standby of `primary`: its own configuration
 * files back from `ownConfigFrom` (the directory set aside, or a saved copy), then
 * primary_conninfo (no password: a passfile), its slot, its port and restore_command in
 * postgresql.auto.conf, and standby.signal.
 */
export async function writeStandbySettings(
  deps: ReplicationDeps,
  input: NodeTarget & {
    primary: string;
    ownConfigFrom: string | null;
    /** Write pgdr's restore_command (WAL from the archive, then streaming). */
    fromArchive: boolean;
    /**
     * The repository its archive WAL comes from: a standby rebuilt from the secondary's copy
     * catches up from the secondary (set by the workflow's proxy; absent: the primary).
     */
    repository?: Repository;
    /**
     * An empty restore_command, whatever the directory had: the node streams only. For an
     * old primary rejoining whose WAL the new primary holds: at startup each archive miss costs
     * a `wal fetch` (about 0.25 s), which a synchronous standby's absence makes clients wait for.
     */
    streamOnly?: boolean;
  },
): Promise<{ restoredConfig: string[]; conninfo: string }> {
  const cc = clusterOf(deps.config, input.cluster);
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const pc = nodeOf(deps.config, input.cluster, input.primary);
  const restoredConfig =
    input.ownConfigFrom && existsSync(input.ownConfigFrom) ? copyConfig(input.ownConfigFrom, nc.dataDir, nc.osUser) : [];
  const tls = conninfoTls(tlsOf(deps.config, input.cluster, input.primary));
  // A key the server may not read would leave a standby that never streams: refuse it here.
  const keyProblem = tls.sslkey ? keyFileProblem(tls.sslkey, nc.osUser) : undefined;
  if (keyProblem) throw new ReplicationPreconditionError(input.cluster, `standby setup of ${input.node}`, [keyProblem]);
  const conninfo = primaryConninfo(pc, {
    user: cc.replication.user ?? cc.user,
    applicationName: input.node,
    ...(cc.replication.passfile ? { passfile: cc.replication.passfile } : {}),
    ...tls,
  });
  const auto = join(nc.dataDir, 'postgresql.auto.conf');
  const kept = (
    existsSync(auto)
      ? readFileSync(auto, 'utf8')
      : '# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n'
  )
    .split('\n')
    .filter(
      (l) =>
        !STANDBY_KEYS.test(l) &&
        !/^# pgdr standby of /.test(l) &&
        !((input.fromArchive || input.streamOnly) && /^\s*restore_command\s*=/.test(l)),
    );
  const q = (v: string) => confString(v);
  const lines = [
    `# pgdr standby of ${input.primary}`,
    `primary_conninfo = ${q(conninfo)}`,
    `primary_slot_name = ${q(slotOf(deps.config, input.cluster, input.node))}`,
    `port = ${nc.port}`,
    'hot_standby = on',
    // (An empty one in the auto file also overrides a restore_command of postgresql.conf.)
    ...(input.streamOnly
      ? [`restore_command = ''`]
      : input.fromArchive
        ? [
            // Through the prefetch spool, from the repository the backup came from (the deps are
            // that repository's: startServer's prefetcher reads the same one).
            `restore_command = ${q(copyRestoreCommand(deps.config, input.cluster, input.repository ?? 'primary', nc.dataDir))}`,
          ]
        : []),
  ];
  writeFileSync(auto, `${kept.join('\n').replace(/\n*$/, '\n')}${lines.join('\n')}\n`, { mode: 0o600 });
  own(auto, nc.osUser);
  rmSync(join(nc.dataDir, 'recovery.signal'), { force: true });
  const signal = join(nc.dataDir, 'standby.signal');
  writeFileSync(signal, '', { mode: 0o600 });
  own(signal, nc.osUser);
  return { restoredConfig, conninfo };
}

/** primary_conninfo's TLS keywords: the root certificate and client certificate as files on the standby's host. */
function conninfoTls(tls: PgTls): { sslmode: string; sslrootcert?: string; sslcert?: string; sslkey?: string } {
  // The schema lets only {file} references reach a cluster of several nodes (the only kind with standbys).
  const file = (ref: PgTls['sslCert']) => (ref && 'file' in ref ? ref.file : undefined);
  const cert = file(tls.sslCert);
  const key = file(tls.sslKey);
  return {
    sslmode: tls.sslmode,
    ...(tls.sslRootCert ? { sslrootcert: tls.sslRootCert } : {}),
    ...(cert && key ? { sslcert: cert, sslkey: key } : {}),
  };
}

/** Why libpq (as osUser) would refuse a client key file: missing, another owner, or readable by others. */
function keyFileProblem(path: string, osUser: string): string | undefined {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    return `client key ${path} (sslKey) cannot be read on this host: ${(err as Error).message}`;
  }
  const uid = asUser(osUser)?.uid ?? process.getuid?.();
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  // libpq's own rule: owned by the user with no group/world access, or owned by root with at most group read.
  const ok = (st.uid === uid && (st.mode & 0o077) === 0) || (st.uid === 0 && (st.mode & 0o037) === 0);
  return ok
    ? undefined
    : `client key ${path} (sslKey) has owner uid ${st.uid} and mode ${mode}: expected mode 0600 owned by ${osUser} (uid ${uid}), which libpq requires`;
}

/**
 * pg_basebackup of the primary into the node's (empty) data directory, on the node's slot;
 * heartbeats kB and %. A retried attempt (the worker running the first one died mid-clone)
 * finds its predecessor's partial clone there and starts again from an empty directory.
 */
export async function cloneFromPrimary(
  deps: ReplicationDeps,
  input: NodeTarget & { primary: string },
): Promise<{ seconds: number; bytes: number }> {
  const cc = clusterOf(deps.config, input.cluster);
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const pc = nodeOf(deps.config, input.cluster, input.primary);
  const { heartbeat, signal, attempt } = activityProgress();
  const t0 = Date.now();
  const seen: { doneKB?: number; totalKB?: number; startLsn?: string } = {};
  if (readdirSync(nc.dataDir).length > 0) {
    // A first attempt never clones over data it did not write (and does not retry into it).
    if (attempt === 1)
      throw new ReplicationPreconditionError(input.cluster, 'rebuild', [
        `data directory ${nc.dataDir} of node ${input.node} is not empty before the clone (expected the empty directory the rebuild prepared)`,
      ]);
    emptyDir(nc.dataDir);
  }
  // The primary's tablespaces: kept at their paths when free on this host, else beside the data
  // directory (pg_basebackup -T; "=" in a path is written "\=").
  const spaces = (await withNode(deps, input.cluster, input.primary, async (c) => (await c.query(TABLESPACES_SQL)).rows)) as Omit<
    BackupTablespace,
    'object'
  >[];
  const esc = (p: string) => p.replace(/=/g, '\\=');
  const mapArgs = rebuildTablespaceMapping(deps.config, { cluster: input.cluster, node: input.node, dataDir: nc.dataDir }, spaces)
    .filter((m) => m.to !== m.from)
    .map((m) => `--tablespace-mapping=${esc(m.from)}=${esc(m.to)}`);
  const stop = every(2000, () =>
    heartbeat({
      phase: 'pg_basebackup',
      bytes: (seen.doneKB ?? 0) * 1024,
      totalBytes: (seen.totalKB ?? 0) * 1024,
      percent: seen.totalKB ? Math.round((100 * (seen.doneKB ?? 0)) / seen.totalKB) : null,
      startLsn: seen.startLsn ?? null,
    }),
  );
  try {
    await withLibpqEnv(
      deps,
      { cluster: input.cluster, node: input.primary, osUser: nc.osUser, appName: `pgdr rebuild ${input.node}` },
      (env) =>
        runTool({
          tool: 'pg_basebackup',
          binDir: nc.binDir,
          args: [
            '-h',
            pc.host,
            '-p',
            String(pc.port),
            '-U',
            cc.user,
            '-D',
            nc.dataDir,
            '-X',
            'stream',
            '-S',
            slotOf(deps.config, input.cluster, input.node),
            '-c',
            'fast',
            '-P',
            '-v',
            '--no-password',
            ...mapArgs,
          ],
          osUser: nc.osUser,
          env,
          onStderrLine: (l) => parseBaseBackupStderr(l, seen),
          signal,
        }),
    );
  } finally {
    stop();
  }
  return { seconds: (Date.now() - t0) / 1000, bytes: (seen.totalKB ?? 0) * 1024 };
}

/**
 * pg_rewind of the node's (cleanly stopped) data directory against `source`, the new primary,
 * when their timelines diverged. The node's own configuration files are kept (pg_rewind copies
 * the source's). Returns whether anything was rewound.
 */
export async function rewindFrom(
  deps: ReplicationDeps,
  input: NodeTarget & { source: string },
): Promise<{ rewound: boolean; detail: string }> {
  const cc = clusterOf(deps.config, input.cluster);
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const sc = nodeOf(deps.config, input.cluster, input.source);
  const { signal } = activityProgress();
  const saved = mkdtempSync(join(tmpdir(), 'pgdr-conf-'));
  try {
    for (const f of configFiles(nc.dataDir)) copyFileSync(join(nc.dataDir, f), join(saved, f));
    const conn = `host=${sc.host} port=${sc.port} user=${cc.user} dbname=${cc.database}`;
    let out = '';
    try {
      const res = await withLibpqEnv(
        deps,
        { cluster: input.cluster, node: input.source, osUser: nc.osUser, appName: `pgdr rewind ${input.node}` },
        (env) =>
          runTool({
            tool: 'pg_rewind',
            binDir: nc.binDir,
            args: ['--target-pgdata', nc.dataDir, '--source-server', conn, '--progress'],
            osUser: nc.osUser,
            env,
            signal,
          }),
      );
      out = `${res.stdout}\n${res.stderr}`;
    } catch (err) {
      if (err instanceof ToolFailedError && /no rewind required/.test(String(err.context.stderrTail))) out = 'no rewind required';
      else throw err;
    }
    const rewound = !/no rewind required/.test(out);
    if (rewound) copyConfig(saved, nc.dataDir, nc.osUser);
    return { rewound, detail: out.trim().split('\n').slice(-2).join(' ') };
  } finally {
    rmSync(saved, { recursive: true, force: true });
  }
}

/** Points a running standby at a new primary: primary_conninfo and slot via ALTER SYSTEM, then reload. */
export async function repointStandby(deps: ReplicationDeps, input: NodeTarget & { primary: string }): Promise<{ conninfo: string }> {
  const cc = clusterOf(deps.config, input.cluster);
  const pc = nodeOf(deps.config, input.cluster, input.primary);
  const conninfo = primaryConninfo(pc, {
    user: cc.replication.user ?? cc.user,
    applicationName: input.node,
    ...(cc.replication.passfile ? { passfile: cc.replication.passfile } : {}),
    ...conninfoTls(tlsOf(deps.config, input.cluster, input.primary)),
  });
  await withNode(deps, input.cluster, input.node, async (c) => {
    await c.query(`alter system set primary_conninfo = '${conninfo.replace(/'/g, "''")}'`);
    await c.query(`alter system set primary_slot_name = '${slotOf(deps.config, input.cluster, input.node)}'`);
    await c.query('select pg_reload_conf()');
  });
  return { conninfo };
}

const STREAMING_SQL = `
select r.state, r.replay_lsn::text as replay_lsn, pg_current_wal_lsn()::text as current_lsn,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8 as lag
  from pg_replication_slots s join pg_stat_replication r on r.pid = s.active_pid
 where s.slot_name = $1`;

/**
 * Waits (on the primary) until `standby` streams on its slot with replay lag at or below
 * maxLagBytes, heartbeating state and lag; fails naming how far it got.
 */
export async function awaitStreaming(
  deps: ReplicationDeps,
  input: NodeTarget & { standby: string; maxLagBytes: number; timeoutSeconds: number },
): Promise<{ lagBytes: number; replayLsn: string; seconds: number }> {
  const { heartbeat, signal } = activityProgress();
  const slot = slotOf(deps.config, input.cluster, input.standby);
  const t0 = Date.now();
  let last = 'no connection on its slot yet';
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const row = await withNode(deps, input.cluster, input.node, async (c) => (await c.query(STREAMING_SQL, [slot])).rows[0]).catch(
      (err: Error) => ({ error: err.message }),
    );
    if (row && 'state' in row) {
      const lag = row.lag === null ? null : Math.max(0, Math.round(row.lag));
      last = `state ${row.state}, replayed ${row.replay_lsn ?? 'nothing'} of ${row.current_lsn}, lag ${lag ?? 'unknown'} bytes`;
      heartbeat({ standby: input.standby, state: row.state, replayLsn: row.replay_lsn, lagBytes: lag });
      if (row.state === 'streaming' && lag !== null && lag <= input.maxLagBytes)
        return { lagBytes: lag, replayLsn: row.replay_lsn, seconds: (Date.now() - t0) / 1000 };
    } else {
      if (row && 'error' in row) last = row.error;
      heartbeat({ standby: input.standby, state: 'not connected', detail: last });
    }
    if (Date.now() - t0 > input.timeoutSeconds * 1000) {
      throw new StandbyNotStreamingError(
        input.cluster,
        input.standby,
        `after ${input.timeoutSeconds} s on slot ${slot} of ${input.node}: ${last} (expected streaming with lag <= ${input.maxLagBytes} bytes)`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
