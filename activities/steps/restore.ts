/**
 * Restores on a node's host (node agent): inspect and prepare the destination, fetch and
 * extract a base backup (or pgbackrest restore), write the recovery settings, start the
 * instance, follow replay to the target, and clean up exactly what the restore created.
 *
 * Every step is idempotent, so a retried attempt (a worker killed mid-restore) carries on:
 * the destination is ours once prepared, and is emptied before a fetch starts again.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, join } from 'node:path';
import { emptyDir, own, portIsFree, runningPid } from '../../adapters/pgHost.js';
import { isWithin } from '../../domain/paths.js';
import { SET_ASIDE_PATTERN, assertBackupId, failedLogName, setAsideName } from '../../domain/naming.js';
import { canonicalPath, overlapsWithLive } from '../../adapters/hostPaths.js';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  BackupCorruptError,
  DestinationFullError,
  DestinationLostError,
  NoFreePortError,
  PortUnavailableError,
  RecoveryTargetMissedError,
  RestorePreflightError,
  ServerStartFailedError,
  ToolFailedError,
  UnsafeConfValueError,
  diskFullLine,
  saysDiskFull,
} from '../../domain/errors.js';
import { confString, pgbackrestConfValueProblem } from '../../domain/pgconf.js';
import { fullXid } from '../../domain/timelines.js';
import {
  pgTimestamp,
  recoverySettings,
  type DestinationFacts,
  type RecoveryStop,
  type RecoveryTargetSettings,
} from '../../domain/restore.js';
import type { PgdrConfig } from '../../config/schema.js';
import { clusterOf, nodeOf } from '../../config/lookup.js';
import type { Repository } from '../../config/repositories.js';
import { archiveCommands, copyRestoreCommand } from '../../config/archiveCommands.js';
import { stopPrefetcher, tryPrefetcher, type PrefetchStats, type Prefetcher } from '../../adapters/walPrefetcher.js';
import { prefetchSpool } from '../../domain/walAgent.js';
import { runTool } from '../../adapters/gateway.js';
import { baseFolder } from '../../adapters/catalogStore.js';
import { downloadAndExtract, placeTablespaces, verifyArgs, type TablespacePlacement } from './basebackup.js';
import { clusterTablespacesOnHost, linkedTablespaces, removeCopyTablespaces, restoreRoots } from './restoreTablespaces.js';
import { activityProgress, every } from '../../adapters/progress.js';
import { withNode, withServer } from '../../adapters/sql.js';
import { pgbackrest, repoArgs } from '../../adapters/pgbackrest.js';
import type { SecretReader } from '../../adapters/secrets.js';
import {
  claimFreePort,
  claimPort,
  currentWorkflowId,
  firstUnclaimedFreePort,
  readClaim,
  releaseClaimsOf,
  releasePort,
} from '../../adapters/portClaims.js';
import { startPostgres, stopPostgres } from '../../adapters/serverStart.js';
import { debianConfDir, parseServerManager, type ServerManager } from '../../domain/serverManager.js';
import { checkToolVersions } from './versions.js';

export interface RestoreDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
  s3: S3Client;
}

interface Where {
  cluster: string;
  node: string;
  dataDir: string;
  /** The repository the restore reads (set by the workflow's proxy; the deps are already that repository's). */
  repository?: Repository;
}

const LOG_NAME = 'pgdr-restore.log';

/**
 * What is at the destination: absent, empty, files or a data directory; running; port free.
 * With `backup`, its tools are first checked against the backup's major (PgVersionMismatchError).
 * With `claimFor` (the restore's workflow id) the port is claimed for it on this host (see
 * portClaims.ts): port 0 takes the first free port of the range, never a configured node's; a
 * port given is claimed as it is, or, with `autoPort`, traded for another when it is no longer
 * free or is another restore's.
 */
export async function inspectDestination(
  deps: RestoreDeps,
  input: Where & { port: number; claimFor?: string; autoPort?: boolean; backup?: { id: string; pgVersion: number } },
): Promise<DestinationFacts> {
  const cc = clusterOf(deps.config, input.cluster);
  nodeOf(deps.config, input.cluster, input.node);
  // The destination's tools must be of the backup's major version: refused before any port is claimed.
  if (input.backup)
    await checkToolVersions(deps, {
      cluster: input.cluster,
      node: input.node,
      work: 'restore',
      against: { label: `backup ${input.backup.id}`, versionNum: input.backup.pgVersion },
    });
  const owner = input.claimFor ? { holder: input.claimFor, dataDir: input.dataDir } : null;
  const range = { from: cc.restore.portFrom, to: cc.restore.portTo };
  let port = input.port;
  let claimedByOther = false;
  // A configured node's own port (a node recovered in place) belongs to that node by config: never claimed.
  const nodePorts = configuredNodePorts(deps.config);
  if (port > 0 && owner && !nodePorts.has(port)) {
    const ours = await claimPort(port, owner);
    if (input.autoPort && !(ours && (await portIsFree(port)))) {
      if (ours) releasePort(port, owner.holder);
      port = 0;
    } else claimedByOther = !ours;
  }
  if (port === 0) {
    // Not given: the first free port of the configured range, claimed for this restore.
    port = (owner ? await claimFreePort(range, owner, nodePorts) : await firstUnclaimedFreePort(range, nodePorts)) ?? -1;
  }
  let state: DestinationFacts['state'] = 'absent';
  if (existsSync(input.dataDir)) {
    if (!statSync(input.dataDir).isDirectory()) state = 'files';
    else {
      const entries = readdirSync(input.dataDir);
      state = entries.length === 0 ? 'empty' : entries.includes('PG_VERSION') ? 'pgData' : 'files';
    }
  }
  const canonicalDir = canonicalPath(input.dataDir);
  const roots = restoreRoots(cc);
  return {
    node: input.node,
    dataDir: input.dataDir,
    port,
    state,
    running: state === 'pgData' && runningPid(input.dataDir) !== null,
    portFree: port > 0 && !claimedByOther && (await portIsFree(port)),
    canonicalDir,
    host: hostname(),
    liveOverlaps: overlapsWithLive(deps.config, canonicalDir, { cluster: input.cluster, node: input.node }),
    withinRoots: roots.some((r) => isWithin(canonicalDir, canonicalPath(r)) && canonicalDir !== canonicalPath(r)),
    roots,
    standby: state === 'pgData' && existsSync(join(input.dataDir, 'standby.signal')),
    liveTablespaces: clusterTablespacesOnHost(deps.config, input.cluster, input.node),
  };
}

export { restoreRoots };

export interface PreparedDestination {
  /** Where the old data went (replaceExisting), kept until the restore is proven. */
  oldDataDir: string | null;
  /** The topmost directory this restore created (the destination or a missing parent), removed if it fails. */
  createdRoot: string | null;
}

/** The first ancestor of path (or path itself) that does not exist yet. */
function firstMissing(path: string): string | null {
  let missing: string | null = null;
  for (let at = path; !existsSync(at); at = dirname(at)) missing = at;
  return missing;
}

/**
 * Makes the destination an empty directory owned by the node's OS user. With `replacing`, a
 * server running there is stopped (fast) and the old directory renamed aside, never deleted.
 * The ground is judged again here, at the moment of change: only a Postgres data directory is
 * ever renamed aside, and never one of another node's live directories.
 */
export async function prepareDestination(
  deps: RestoreDeps,
  input: Where & { restoreId: string; replacing: boolean; stopFirst: boolean },
): Promise<PreparedDestination> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const oldDataDir = setAsideName(input.dataDir, input.restoreId);
  const foreign = overlapsWithLive(deps.config, canonicalPath(input.dataDir), { cluster: input.cluster, node: input.node }).filter(
    (o) => !(o.relation === 'is' && o.kind === 'data' && o.cluster === input.cluster && o.node === input.node),
  );
  if (foreign.length)
    throw new RestorePreflightError(
      input.cluster,
      foreign.map(
        (o) =>
          `destination ${input.node}:${input.dataDir} ${o.relation === 'is' ? 'is' : o.relation === 'inside' ? 'lies inside' : 'contains'} node ${o.node}'s ${o.kind} directory ${o.path}; nothing was changed`,
      ),
    );
  if (input.stopFirst && runningPid(input.dataDir) !== null) {
    await stopPostgres({ node: input.node, ...serverOf(nc, input.dataDir), mode: 'fast', wait: true, timeoutSeconds: 300 });
  }
  const holdsData = existsSync(input.dataDir) && readdirSync(input.dataDir).length > 0;
  if (holdsData && !input.replacing)
    throw new RestorePreflightError(input.cluster, [`destination ${input.node}:${input.dataDir} is no longer empty; nothing was changed`]);
  if (holdsData && !existsSync(oldDataDir) && !existsSync(join(input.dataDir, 'PG_VERSION'))) {
    throw new RestorePreflightError(input.cluster, [
      `destination ${input.node}:${input.dataDir} holds files but no Postgres data directory (no PG_VERSION); pgdr only ever replaces a Postgres data directory; nothing was changed`,
    ]);
  }
  // A retried attempt finds the old directory already aside and the new one ours.
  if (input.replacing && holdsData && !existsSync(oldDataDir)) renameSync(input.dataDir, oldDataDir);
  const createdRoot = firstMissing(input.dataDir);
  if (createdRoot) {
    mkdirSync(dirname(input.dataDir), { recursive: true, mode: 0o755 });
    mkdirSync(input.dataDir, { mode: 0o700 });
  }
  own(input.dataDir, nc.osUser);
  return { oldDataDir: input.replacing && existsSync(oldDataDir) ? oldDataDir : null, createdRoot };
}

/** Downloads the base backup, checks its sha256 against the manifest and extracts it. */
export async function fetchBaseBackup(
  deps: RestoreDeps,
  input: Where & {
    backupId: string;
    objectName: string;
    sha256: string;
    compression: string;
    /** A backup with tablespaces: each one's archive and mapped directory, and backup_manifest. */
    tablespaces?: TablespacePlacement[];
    manifestObject?: { name: string; sha256: string };
  },
): Promise<{ bytes: number; downloadSeconds: number; extractSeconds: number }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const { heartbeat, signal } = activityProgress();
  const key = baseFolder(deps.config.storage, input.cluster, assertBackupId(input.backupId)) + input.objectName;
  emptyDir(input.dataDir);
  let got;
  try {
    got = await downloadAndExtract(deps, {
      cluster: input.cluster,
      key,
      dir: input.dataDir,
      compression: input.compression,
      osUser: nc.osUser,
      signal,
      heartbeat,
    });
  } catch (err) {
    if (err instanceof ToolFailedError && saysDiskFull(err.context.stderrTail)) {
      throw new DestinationFullError(input.cluster, input.node, input.dataDir, diskFullLine(err.context.stderrTail));
    }
    if (err instanceof ToolFailedError && err.context.tool === 'tar')
      throw new BackupCorruptError(
        input.cluster,
        input.backupId,
        `s3://${deps.config.storage.bucket}/${key}`,
        `cannot extract it: ${String(err.context.stderrTail).trim().split('\n').slice(-2).join(' ')}`,
      );
    throw err;
  }
  if (got.sha256 !== input.sha256) {
    emptyDir(input.dataDir);
    throw new BackupCorruptError(
      input.cluster,
      input.backupId,
      `s3://${deps.config.storage.bucket}/${key}`,
      `sha256 ${got.sha256} does not match the manifest's ${input.sha256}`,
    );
  }
  if (input.tablespaces?.length || input.manifestObject) {
    // Judged again at the moment of change: a tablespace directory is never a live one.
    const live = (input.tablespaces ?? []).flatMap((t) =>
      overlapsWithLive(deps.config, canonicalPath(t.dir), { cluster: input.cluster, node: input.node }).map(
        (o) =>
          `tablespace directory ${input.node}:${t.dir} ${o.relation === 'is' ? 'is' : o.relation === 'inside' ? 'lies inside' : 'contains'} node ${o.node}'s ${o.kind} directory ${o.path}; nothing was written there`,
      ),
    );
    if (live.length) throw new RestorePreflightError(input.cluster, live);
    const t0 = Date.now();
    const folder = baseFolder(deps.config.storage, input.cluster, input.backupId);
    let placed;
    try {
      placed = await placeTablespaces(deps, {
        cluster: input.cluster,
        folder,
        dataDir: input.dataDir,
        compression: input.compression,
        osUser: nc.osUser,
        signal,
        heartbeat,
        tablespaces: input.tablespaces ?? [],
        ...(input.manifestObject ? { manifestObject: input.manifestObject } : {}),
      });
    } catch (err) {
      if (err instanceof ToolFailedError && saysDiskFull(err.context.stderrTail))
        throw new DestinationFullError(input.cluster, input.node, input.dataDir, diskFullLine(err.context.stderrTail));
      throw err;
    }
    if (placed.problem) {
      emptyDir(input.dataDir);
      throw new BackupCorruptError(input.cluster, input.backupId, `s3://${deps.config.storage.bucket}/${folder}`, placed.problem);
    }
    return {
      bytes: got.bytes + placed.bytes,
      downloadSeconds: got.downloadSeconds + (Date.now() - t0) / 1000,
      extractSeconds: got.extractSeconds,
    };
  }
  return { bytes: got.bytes, downloadSeconds: got.downloadSeconds, extractSeconds: got.extractSeconds };
}

/** pg_verifybackup on the extracted directory, before anything in it is changed. */
export async function verifyRestoredBackup(
  deps: RestoreDeps,
  input: Where & { backupId: string },
): Promise<{ tool: string; ok: boolean; detail: string; seconds: number }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const { signal } = activityProgress();
  const t0 = Date.now();
  try {
    const res = await runTool({ tool: 'pg_verifybackup', binDir: nc.binDir, args: verifyArgs(input.dataDir), osUser: nc.osUser, signal });
    return {
      tool: 'pg_verifybackup',
      ok: true,
      detail: res.stdout.trim() || 'backup successfully verified',
      seconds: (Date.now() - t0) / 1000,
    };
  } catch (err) {
    if (!(err instanceof ToolFailedError)) throw err;
    throw new BackupCorruptError(
      input.cluster,
      input.backupId,
      input.dataDir,
      `pg_verifybackup rejected the restored files: ${String(err.context.stderrTail).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
}

/** pgbackrest restore of one set into the destination, with the target handed to pgBackRest. */
export async function pgbackrestRestoreSet(
  deps: RestoreDeps,
  input: Where & {
    label: string;
    settings: RecoveryTargetSettings | 'standby';
    keepArchiving: boolean;
    /** Where each tablespace goes (pgbackrest --tablespace-map=<oid>=<dir>). */
    tablespaces?: { oid: number; to: string }[];
  },
): Promise<{ seconds: number }> {
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  const s = input.settings;
  const restoreCommand = archiveCommands(deps.config, input.cluster, input.repository).restoreCommand;
  // pgBackRest writes these values into postgresql.auto.conf unescaped: the pre-flight refuses
  // such a target; this stops anything that got past it before a file is written.
  const carried: [string, string | null][] = [
    ['restore_command', restoreCommand],
    ['recovery_target_name', s !== 'standby' && s.kind === 'name' ? s.value : null],
  ];
  for (const [setting, value] of carried) {
    const problem = value === null ? null : pgbackrestConfValueProblem(value);
    if (problem) throw new UnsafeConfValueError(value!, problem, setting);
  }
  emptyDir(input.dataDir);
  for (const t of input.tablespaces ?? []) if (existsSync(t.to)) emptyDir(t.to);
  const args = [`--pg1-path=${input.dataDir}`, `--set=${input.label}`];
  for (const t of input.tablespaces ?? []) args.push(`--tablespace-map=${t.oid}=${t.to}`);
  if (s === 'standby') {
    // A replica rebuilt from the repo: standby.signal, then streaming once it caught up from the archive.
    args.push('--type=standby', '--target-timeline=latest');
  } else {
    args.push(`--type=${s.kind === 'immediate' ? 'immediate' : s.kind}`);
    // pgBackRest refuses --target-timeline with --type=immediate (stopping at the backup's end follows no timeline).
    if (s.kind !== 'immediate') args.push(`--target-timeline=${s.timeline ?? 'latest'}`);
    if (s.value !== null) args.push(`--target=${s.kind === 'time' ? pgTimestamp(s.value) : s.value}`);
    args.push(`--target-action=${s.action}`);
    if (!s.inclusive && (s.kind === 'time' || s.kind === 'lsn' || s.kind === 'xid')) args.push('--target-exclusive');
  }
  if (!input.keepArchiving) args.push('--archive-mode=off');
  // pgBackRest's own restore_command would need the S3 keys in Postgres' environment; pgdr's reads them itself.
  args.push(`--recovery-option=restore_command=${restoreCommand}`);
  const stop = every(2000, () => heartbeat({ phase: 'pgbackrest restore', seconds: Math.round((Date.now() - t0) / 1000) }));
  try {
    await pgbackrest(deps, input.cluster, input.node, [...args, ...repoArgs(deps.config), 'restore'], signal);
  } finally {
    stop();
  }
  return { seconds: (Date.now() - t0) / 1000 };
}

/**
 * recovery.signal and the recovery settings, appended to postgresql.auto.conf in a block
 * marked with the workflow id (a retry replaces its own block). With `targetLines` false the
 * target came from pgBackRest and only the instance settings are added.
 */
export async function writeRecoverySettings(
  deps: RestoreDeps,
  input: Where & {
    settings: RecoveryTargetSettings;
    port: number;
    keepArchiving: boolean;
    marker: string;
    targetLines: boolean;
    privateSocketDir?: string;
    /** The backup's source node: a copy on another host must not inherit that host's listen_addresses. */
    sourceNode?: string;
    /** In place: the node's old data directory, set aside, whose configuration files a config-less backup lacks. */
    ownConfigFrom?: string;
  },
): Promise<void> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const auto = join(input.dataDir, 'postgresql.auto.conf');
  const current = existsSync(auto) ? readFileSync(auto, 'utf8') : '# Do not edit this file manually!\n';
  const mine = `# ${input.marker}`;
  const kept = current.includes(mine) ? current.slice(0, current.indexOf(mine)) : current;
  let lines = recoverySettings(input.settings, {
    restoreCommand: copyRestoreCommand(deps.config, input.cluster, input.repository ?? 'primary', input.dataDir),
    port: input.port,
    keepArchiving: input.keepArchiving,
    marker: input.marker,
  });
  if (!input.targetLines) lines = lines.filter((l) => !/^(recovery_target|restore_command)/.test(l));
  if (input.privateSocketDir) {
    // A scratch copy for checks: reachable as the superuser only through a socket in a directory
    // only the node's OS user can enter.
    mkdirSync(input.privateSocketDir, { recursive: true, mode: 0o700 });
    own(input.privateSocketDir, nc.osUser);
    lines.push(`unix_socket_directories = ${confString(input.privateSocketDir)}`, `listen_addresses = '127.0.0.1'`);
    const hba = join(input.dataDir, 'pg_hba.conf');
    const rule = `local all all trust  # ${input.marker}: scratch copy, socket in ${input.privateSocketDir} (0700)`;
    const text = existsSync(hba) ? readFileSync(hba, 'utf8') : '';
    if (!text.includes(rule)) writeFileSync(hba, `${rule}\n${text}`, { mode: 0o600 });
    own(hba, nc.osUser);
  } else if (input.sourceNode && input.sourceNode in clusterOf(deps.config, input.cluster).nodes) {
    // The backup carries its source's configuration: on another host, an address of the source
    // host cannot be bound there, and the copy would answer on none that pgdr connects to.
    const sourceHost = nodeOf(deps.config, input.cluster, input.sourceNode).host;
    if (sourceHost !== nc.host) lines.push(`listen_addresses = ${confString(nc.host)}`);
  }
  writeFileSync(auto, `${kept.replace(/\n*$/, '\n')}${lines.join('\n')}\n`, { mode: 0o600 });
  own(auto, nc.osUser);
  // A backup of a Debian-style cluster has no configuration in the data directory (it stays in
  // /etc/postgresql on the source). In place, the node's own files come back from the directory
  // set aside. A copy on another directory takes this host's own connection settings (TLS,
  // authentication) from the node's running server, so pgdr and the node's clients reach it as
  // they reach the node; never the node's whole postgresql.conf, whose data_directory, port and
  // pid file are the live server's. With the server down, its pg_hba.conf and pg_ident.conf are
  // read where its layout keeps them. Each file is checked on its own (a retry finds some made).
  const conf = join(input.dataDir, 'postgresql.conf');
  const hba = join(input.dataDir, 'pg_hba.conf');
  const ident = join(input.dataDir, 'pg_ident.conf');
  if (!existsSync(conf) || !existsSync(hba)) {
    const inPlace = canonicalPath(input.dataDir) === canonicalPath(nc.dataDir);
    const ownDir = inPlace && input.ownConfigFrom && existsSync(input.ownConfigFrom) ? input.ownConfigFrom : null;
    // In place: every top-level configuration file of the old directory the backup lacks.
    if (ownDir)
      for (const f of readdirSync(ownDir)) {
        const from = join(ownDir, f);
        if (!f.endsWith('.conf') || f === 'postgresql.auto.conf' || existsSync(join(input.dataDir, f)) || !statSync(from).isFile())
          continue;
        copyFileSync(from, join(input.dataDir, f));
        own(join(input.dataDir, f), nc.osUser);
      }
    const live = inPlace ? null : await nodeConnectionSettings(deps, input);
    const layoutDir = configDirOf(nc);
    const pick = (name: string, fromLive: string | null | undefined) =>
      [ownDir && join(ownDir, name), fromLive, layoutDir && join(layoutDir, name)].find((f): f is string => !!f && existsSync(f)) ?? null;
    if (!existsSync(conf)) {
      writeFileSync(
        conf,
        [
          '# written by pgdr restore: the backup held no postgresql.conf',
          ...(live ? [`# connection settings of node ${input.node}'s server:`, ...live.lines] : []),
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      own(conf, nc.osUser);
    }
    if (!existsSync(hba)) {
      const from = pick('pg_hba.conf', live?.hbaFile);
      if (!from)
        throw new RestorePreflightError(input.cluster, [
          `the backup holds no pg_hba.conf (its source keeps its configuration outside the data directory) and node ${input.node}'s own could not be found (its server did not answer${layoutDir ? `, no ${join(layoutDir, 'pg_hba.conf')}` : ''}); expected the node's server running, or its pg_hba.conf where its manager keeps it`,
        ]);
      copyFileSync(from, hba);
      own(hba, nc.osUser);
    }
    const identFrom = existsSync(ident) ? null : pick('pg_ident.conf', live?.identFile);
    if (identFrom) {
      copyFileSync(identFrom, ident);
      own(ident, nc.osUser);
    }
  }
  rmSync(join(input.dataDir, 'standby.signal'), { force: true });
  const signalFile = join(input.dataDir, 'recovery.signal');
  writeFileSync(signalFile, '', { mode: 0o600 });
  own(signalFile, nc.osUser);
}

/**
 * The copy's WAL prefetcher, started if its restore_command reads the prefetch spool (basebackup
 * method, restore.prefetch; writeRecoverySettings decided), else none.
 */
async function prefetchFor(deps: RestoreDeps, input: Where): Promise<Prefetcher | undefined> {
  const auto = join(input.dataDir, 'postgresql.auto.conf');
  if (!existsSync(auto) || !readFileSync(auto, 'utf8').includes(prefetchSpool(input.dataDir))) return undefined;
  const nc = nodeOf(deps.config, input.cluster, input.node);
  return tryPrefetcher({
    config: deps.config,
    cluster: input.cluster,
    dataDir: input.dataDir,
    osUser: nc.osUser,
    s3: deps.s3,
    readSecret: deps.readSecret,
  });
}

/** The port the restore's own block in postgresql.auto.conf gives the instance. */
function configuredPort(dataDir: string, marker: string): number {
  const text = readFileSync(join(dataDir, 'postgresql.auto.conf'), 'utf8');
  const block = text.slice(text.indexOf(`# ${marker}`));
  return Number(/^port = (\d+)$/m.exec(block)?.[1] ?? 0);
}

function setPort(dataDir: string, marker: string, port: number, osUser: string): void {
  const auto = join(dataDir, 'postgresql.auto.conf');
  const text = readFileSync(auto, 'utf8');
  const at = text.indexOf(`# ${marker}`);
  writeFileSync(auto, text.slice(0, at) + text.slice(at).replace(/^port = \d+$/m, `port = ${port}`), { mode: 0o600 });
  own(auto, osUser);
}

/**
 * Starts the restored instance unless it already runs (a retried attempt), on the port its
 * restore claimed, and returns once the server runs (ready, or replaying) or has exited; the
 * verdict comes from pg_ctl following its own postmaster (serverStart.ts), never from a
 * postmaster.pid not yet written. With `autoPort` (pgdr chose the port), a port taken since the
 * pre-flight, by a listener or by another restore's claim, is traded for the next free one of
 * the range, also when the server itself finds it taken at bind time. Without it, a port the
 * server cannot bind is PortUnavailableError.
 */
export async function startRestoredInstance(
  deps: RestoreDeps,
  input: Where & { marker: string; autoPort: boolean },
): Promise<{ pid: number | null; port: number }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const range = clusterOf(deps.config, input.cluster).restore;
  const { heartbeat, signal } = activityProgress();
  const holder = currentWorkflowId();
  const owner = holder ? { holder, dataDir: input.dataDir } : null;
  let port = configuredPort(input.dataDir, input.marker);
  const nodePorts = configuredNodePorts(deps.config);
  const tried = new Set<number>(nodePorts);
  const trade = async (why: string): Promise<void> => {
    tried.add(port);
    if (owner) releasePort(port, owner.holder);
    const next = owner
      ? await claimFreePort({ from: range.portFrom, to: range.portTo }, owner, tried)
      : await firstUnclaimedFreePort({ from: range.portFrom, to: range.portTo }, tried);
    if (next === null)
      throw new NoFreePortError(
        input.cluster,
        input.node,
        range.portFrom,
        range.portTo,
        `${why}; every other port is bound, claimed by another restore, or a node's`,
      );
    port = next;
    setPort(input.dataDir, input.marker, port, nc.osUser);
  };
  for (let attempt = 0; ; attempt++) {
    const pid = runningPid(input.dataDir);
    if (pid !== null) return { pid, port };
    // The claim is this restore's (a retried attempt finds it so); another restore's is never used.
    if (owner && !nodePorts.has(port) && !(await claimPort(port, owner))) {
      const why = `port ${port} is claimed by ${readClaim(port)?.holder ?? 'another restore'}`;
      if (!input.autoPort) throw new PortUnavailableError(input.node, input.dataDir, port, why);
      await trade(why);
      continue;
    }
    if (input.autoPort && !(await portIsFree(port))) {
      await trade(`port ${port} is bound by another process`);
      continue;
    }
    try {
      await prefetchFor(deps, input);
      const out = await startPostgres({
        node: input.node,
        ...serverOf(nc, input.dataDir),
        logFile: join(input.dataDir, LOG_NAME),
        port,
        signal,
        onWait: () => heartbeat({ phase: 'starting the instance', port }),
      });
      // Exited: awaitRecoveryTarget reports it with the log's words and where replay got to.
      return { pid: out.state === 'exited' ? null : out.pid, port };
    } catch (err) {
      if (!(err instanceof PortUnavailableError) || !input.autoPort || attempt >= 8) throw err;
      await trade(`the server could not bind port ${port}`);
    }
  }
}

/** Every port a configured node uses: a restored instance never gets one of them. */
function configuredNodePorts(config: PgdrConfig): Set<number> {
  return new Set(Object.values(config.clusters).flatMap((c) => Object.values(c.nodes).map((n) => n.port)));
}

// Times as text in UTC with microseconds: node-postgres would round them to milliseconds.
const REPLAY_SQL = `select pg_is_in_recovery() as in_recovery,
  case when pg_is_in_recovery() then pg_get_wal_replay_pause_state() else 'not paused' end as pause_state,
  pg_last_wal_replay_lsn()::text as replay_lsn,
  to_char(pg_last_xact_replay_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as last_commit`;

/**
 * The server log's reason for stopping: the last lines of pgdr's own archive tool (they name a
 * corrupt object) and the last FATAL/PANIC lines, then the tail. A tail alone can crowd out the
 * one line that names the object when the server logs its shutdown in many lines.
 */
export function logTail(dataDir: string): string {
  let lines: string[];
  try {
    lines = readFileSync(join(dataDir, LOG_NAME), 'utf8').trim().split('\n');
  } catch {
    return '(no log)';
  }
  const reasons = [...lines.filter((l) => /pgdr wal \w+:/.test(l)).slice(-2), ...lines.filter((l) => /\b(FATAL|PANIC):/.test(l)).slice(-2)];
  const tail = lines.slice(-4).filter((l) => !reasons.includes(l));
  return [...reasons, ...tail].join(' | ');
}

/**
 * Follows replay until recovery stops at its target (paused, or promoted), heartbeating the
 * replayed LSN. A server that exits first (e.g. "recovery ended before configured recovery
 * target was reached") fails the restore with the log's words and where replay got to.
 */
/** What following replay needs: where the copy answers and what it was asked to reach. */
interface ReplayWatch {
  port: number;
  action: 'pause' | 'promote';
  target: string;
  timeoutSeconds: number;
  xid?: string;
  /** A scratch copy (drills) answers only on this private socket directory, not on the node's address. */
  privateSocketDir?: string;
}

export async function awaitRecoveryTarget(deps: RestoreDeps, input: Where & ReplayWatch): Promise<RecoveryStop> {
  // The prefetcher lives as long as replay does: stopped here, spool and all, whatever happens.
  const prefetcher = await prefetchFor(deps, input);
  try {
    const stop = await followReplay(deps, input, () => prefetcher?.stats);
    const stats = await stopPrefetcher(input.dataDir);
    return stats ? { ...stop, prefetch: { ...stats } } : stop;
  } finally {
    await stopPrefetcher(input.dataDir);
  }
}

async function followReplay(
  deps: RestoreDeps,
  input: Where & ReplayWatch,
  prefetch: () => PrefetchStats | undefined,
): Promise<RecoveryStop> {
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  const nc = nodeOf(deps.config, input.cluster, input.node);
  // The agent runs on the copy's host: a scratch copy through its private socket (it listens on
  // no address pgdr's TLS name would match), any other copy at the node's address.
  const host = input.privateSocketDir ?? nc.host;
  let last: { replayLsn: string | null; lastCommit: string | null } = { replayLsn: null, lastCommit: null };
  for (;;) {
    if (signal.aborted) throw signal.reason;
    if (!existsSync(join(input.dataDir, 'PG_VERSION'))) {
      // Not the archive's fault: the directory was removed or emptied under the running restore.
      throw new DestinationLostError(input.cluster, input.node, input.dataDir, `last replayed lsn ${last.replayLsn ?? 'unknown'}`);
    }
    if (runningPid(input.dataDir) === null) {
      // startRestoredInstance returned only once pg_ctl saw the postmaster run (or exit): no pid now is an exit.
      throw new RecoveryTargetMissedError(
        input.cluster,
        input.target,
        `the restored server exited before reaching it (last replayed lsn ${last.replayLsn ?? 'unknown'}, last commit ${last.lastCommit ?? 'unknown'}); log: ${logTail(input.dataDir)}`,
      );
    }
    try {
      const row = await withServer(
        deps,
        input.cluster,
        `restore@${input.node}`,
        { host, port: input.port },
        async (c) => (await c.query(REPLAY_SQL)).rows[0],
      );
      last = { replayLsn: row.replay_lsn, lastCommit: row.last_commit ?? null };
      const p = prefetch();
      heartbeat({
        phase: 'replaying',
        replayLsn: row.replay_lsn,
        lastCommit: last.lastCommit,
        target: input.target,
        ...(p ? { prefetchedSegments: p.fetched, servedFromSpool: p.served } : {}),
      });
      const stopped =
        input.action === 'pause' && row.in_recovery && row.pause_state === 'paused' ? 'paused' : !row.in_recovery ? 'promoted' : null;
      if (stopped) {
        const stop: RecoveryStop = { replayLsn: row.replay_lsn, lastCommitTime: last.lastCommit, state: stopped };
        // An xid target: what the stopped copy says of that transaction, for the exact-stop judge.
        if (input.xid !== undefined) stop.xactStatus = await xactStatus(deps, input, host, input.xid);
        return stop;
      }
    } catch {
      // Not accepting connections until consistent: keep waiting while the server lives.
      heartbeat({ phase: 'starting', replayLsn: last.replayLsn, target: input.target });
    }
    if (Date.now() - t0 > input.timeoutSeconds * 1000) {
      throw new RecoveryTargetMissedError(
        input.cluster,
        input.target,
        `replay did not reach it within ${input.timeoutSeconds} s (last replayed lsn ${last.replayLsn ?? 'unknown'})`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * pg_xact_status of a transaction in a stopped copy: its id placed in the copy's epoch, and
 * 'in progress' for an id the copy has not seen end (at or past its snapshot's xmax).
 */
async function xactStatus(deps: RestoreDeps, input: Where & { port: number }, host: string, xid: string): Promise<string | null> {
  return withServer(deps, input.cluster, `restore@${input.node}`, { host, port: input.port }, async (c) => {
    const xmax = BigInt((await c.query('select pg_snapshot_xmax(pg_current_snapshot())::text as xmax')).rows[0].xmax);
    const full = fullXid(xid, xmax);
    if (full >= xmax) return 'in progress';
    return (await c.query('select pg_xact_status($1::text::xid8) as status', [full.toString()])).rows[0].status ?? null;
  });
}

/** After a promoted restore: the target settings are commented out so they never apply again. */
export async function settleRecoverySettings(deps: RestoreDeps, input: Where & { marker: string }): Promise<void> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  const auto = join(input.dataDir, 'postgresql.auto.conf');
  const text = readFileSync(auto, 'utf8');
  const at = text.indexOf(`# ${input.marker}`);
  if (at < 0) return;
  const block = text.slice(at).replace(/^(recovery_target\w*\s*=.*)$/gm, '# done: $1');
  writeFileSync(auto, text.slice(0, at) + block, { mode: 0o600 });
  own(auto, nc.osUser);
}

/**
 * Undoes a restore that did not finish: stops its instance, removes what it created (the
 * directory, or only its contents when the directory existed before), puts the old data
 * directory back and starts the server that ran there, as it was.
 */
export async function cleanupRestore(
  deps: RestoreDeps,
  input: Where & {
    createdDir: boolean;
    createdRoot?: string;
    oldDataDir: string | null;
    restartOld: boolean;
    privateSocketDir?: string;
    keepLog?: boolean;
    /** The tablespace directories the restore made (prepareTablespaceDirs). */
    tablespaceDirs?: string[];
  },
): Promise<{ removed: boolean; restoredOld: boolean; keptLog: string | null; logLines: string | null }> {
  const nc = nodeOf(deps.config, input.cluster, input.node);
  // No prefetcher or spool outlives the restore (a cancel between its activities, an agent restart).
  await stopPrefetcher(input.dataDir);
  // Replacing, but the old directory was never moved: the data there is the original. Hands off.
  const original = input.oldDataDir !== null && !existsSync(input.oldDataDir);
  let removed = false;
  let restoredOld = false;
  let keptLog: string | null = null;
  let logLines: string | null = null;
  if (!original) {
    if (runningPid(input.dataDir) !== null)
      await stopPostgres({ node: input.node, ...serverOf(nc, input.dataDir), mode: 'immediate', wait: true, timeoutSeconds: 120 });
    // The failed attempt's server log often holds the real cause: it outlives the directory.
    // Beside the topmost directory this restore created, so removing what it created keeps it.
    const kept = input.keepLog
      ? keepServerLog(
          input.dataDir,
          input.createdDir && input.createdRoot && isWithin(input.dataDir, input.createdRoot) ? input.createdRoot : input.dataDir,
        )
      : null;
    keptLog = kept?.path ?? null;
    logLines = kept?.reason ?? null;
    // Its tablespaces first: the data directory's links name them.
    if (removeCopyTablespaces(deps.config, input, input.tablespaceDirs).length) removed = true;
    if (existsSync(input.dataDir)) {
      if (input.createdDir) rmSync(input.dataDir, { recursive: true, force: true });
      else emptyDir(input.dataDir);
      removed = true;
    }
    // The parents this restore created, if nothing else came to live in them meanwhile.
    if (input.createdDir && input.createdRoot && isWithin(input.dataDir, input.createdRoot)) {
      for (
        let at = dirname(input.dataDir);
        isWithin(at, input.createdRoot) && existsSync(at) && readdirSync(at).length === 0;
        at = dirname(at)
      )
        rmdirSync(at);
    }
    if (input.oldDataDir) {
      renameSync(input.oldDataDir, input.dataDir);
      restoredOld = true;
    }
  }
  // The port this copy was given is free for another restore once the copy is gone.
  if (removed || !existsSync(input.dataDir)) releaseClaimsOf(input.dataDir);
  if (input.privateSocketDir && /\/pgdr-[\w.-]+$/.test(input.privateSocketDir))
    rmSync(input.privateSocketDir, { recursive: true, force: true });
  // The server that ran there before runs again, as it was.
  if (input.restartOld && existsSync(join(input.dataDir, 'PG_VERSION')) && runningPid(input.dataDir) === null) {
    const out = await startPostgres({
      node: input.node,
      ...serverOf(nc, input.dataDir),
      logFile: join(input.dataDir, LOG_NAME),
      timeoutSeconds: 120,
    });
    if (out.state === 'exited') throw new ServerStartFailedError(input.node, input.dataDir, out.reason);
  }
  return { removed, restoredOld, keptLog, logLines };
}

/** Server logs a failed attempt may have written in its data directory (restores, rebuilds, rejoins). */
const SERVER_LOGS = [LOG_NAME, 'pgdr-server.log'];

/**
 * Copies a failed attempt's server log beside its data directory (`<dir>.pgdr-failed-<time>.log`,
 * mode 0600) before the directory goes, and returns where, with the lines that give the reason.
 */
export function keepServerLog(dataDir: string, beside = dataDir): { path: string; reason: string } | null {
  const logs = SERVER_LOGS.map((n) => join(dataDir, n)).filter((f) => existsSync(f));
  if (!logs.length) return null;
  const text = logs.map((f) => readFileSync(f, 'utf8')).join('\n');
  // A new file (O_EXCL: never through a link someone planted at a guessable name), random suffix.
  const path = failedLogName(beside, new Date(), randomBytes(3).toString('hex'));
  writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
  const lines = text.trim().split('\n');
  const reasons = lines.filter((l) => /\b(FATAL|PANIC|ERROR):/.test(l)).slice(-3);
  return { path, reason: (reasons.length ? reasons : lines.slice(-3)).join(' | ') };
}

/** The restore report is stored by the report store (the activity keeps its name). */
export { storeRestoreReport } from '../../adapters/reportStore.js';

/** The restore is proven: the old data directory it replaced can go. */
export async function removeOldDataDir(
  deps: RestoreDeps,
  input: { cluster: string; node: string; oldDataDir: string },
): Promise<{ removed: boolean }> {
  nodeOf(deps.config, input.cluster, input.node);
  if (!SET_ASIDE_PATTERN.test(input.oldDataDir) || (existsSync(input.oldDataDir) && !existsSync(join(input.oldDataDir, 'PG_VERSION'))))
    throw new RangeError(`refusing to remove ${input.oldDataDir}: not a directory pgdr renamed aside`);
  const existed = existsSync(input.oldDataDir);
  // The replaced server's tablespaces, now that no live data directory links them (the restored
  // one has its own): the old copy's, kept until the new one was proven.
  for (const t of existed ? linkedTablespaces(input.oldDataDir) : [])
    if (!overlapsWithLive(deps.config, canonicalPath(t), { cluster: input.cluster, node: input.node }).length)
      rmSync(t, { recursive: true, force: true });
  rmSync(input.oldDataDir, { recursive: true, force: true });
  return { removed: existed };
}

/**
 * The server in dataDir as a start or stop runs it: the node's own data directory through the
 * node's manager (an in-place restore of a pg_ctlcluster node starts as that cluster, with its
 * configuration in /etc/postgresql), any other directory (a copy) under pg_ctl.
 */
function serverOf(
  nc: { binDir: string; dataDir: string; osUser: string; manager: string },
  dataDir: string,
): { binDir: string; dataDir: string; osUser: string; manager: ServerManager } {
  const own = canonicalPath(dataDir) === canonicalPath(nc.dataDir);
  return { binDir: nc.binDir, dataDir, osUser: nc.osUser, manager: own ? parseServerManager(nc.manager) : { kind: 'pg_ctl' } };
}

/** The settings a restored copy takes from the node's own server when its backup held no configuration. */
const CONNECTION_SETTINGS = [
  'ssl',
  'ssl_cert_file',
  'ssl_key_file',
  'ssl_ca_file',
  'ssl_crl_file',
  'ssl_min_protocol_version',
  'password_encryption',
];

/** Where a node's manager keeps its configuration files: the data directory, /etc/postgresql/<v>/<name>, or unknown (a systemd unit). */
function configDirOf(nc: { dataDir: string; manager: string }): string | null {
  const m = parseServerManager(nc.manager);
  return m.kind === 'pg_ctl' ? nc.dataDir : m.kind === 'pg_ctlcluster' ? debianConfDir(m) : null;
}

/**
 * The node's running server's TLS and password settings (as postgresql.conf lines) and its
 * pg_hba.conf and pg_ident.conf paths; null when the server does not answer (the caller then
 * reads the files where the node's manager keeps them).
 */
async function nodeConnectionSettings(
  deps: RestoreDeps,
  at: Where,
): Promise<{ lines: string[]; hbaFile: string | null; identFile: string | null } | null> {
  try {
    return await withNode(deps, at.cluster, at.node, async (c) => {
      const rows = (
        await c.query(`select name, setting from pg_settings where name = any($1)`, [[...CONNECTION_SETTINGS, 'hba_file', 'ident_file']])
      ).rows as { name: string; setting: string }[];
      const lines = rows
        .filter((r) => r.name !== 'hba_file' && r.name !== 'ident_file' && r.setting !== '')
        .map((r) => {
          // A relative file name is the node's data directory's, not the copy's.
          const value =
            r.name.endsWith('_file') && !isAbsolute(r.setting)
              ? join(nodeOf(deps.config, at.cluster, at.node).dataDir, r.setting)
              : r.setting;
          return `${r.name} = ${confString(value, r.name)}`;
        });
      const file = (name: string) => {
        const f = rows.find((r) => r.name === name)?.setting ?? null;
        return f && existsSync(f) ? f : null;
      };
      return { lines, hbaFile: file('hba_file'), identFile: file('ident_file') };
    });
  } catch {
    return null;
  }
}
