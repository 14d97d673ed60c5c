/**
 * The pgdr error catalogue. Every error a procedure can raise on purpose is a subclass of
 * {@link PgdrError}, carries a stable `code`, says whether retrying can help, and keeps the
 * values it is about in `context` (never a secret). Messages are lowercase, name the actual
 * and the expected value, and may end with a HINT.
 *
 * This module is imported by workflow code, so it must not import anything from Node.
 */
import { ApplicationFailure } from '@temporalio/common';

export type ErrorContext = Record<string, string | number | boolean | null | undefined>;

export abstract class PgdrError extends Error {
  /** Stable identifier, listed in the README's error table. */
  abstract readonly code: string;
  /** True when a retry cannot help (bad input, refused precondition, missing tool). */
  readonly nonRetryable: boolean = false;

  constructor(
    message: string,
    readonly context: ErrorContext = {},
    readonly hint?: string,
  ) {
    super(hint ? `${message}\nHINT: ${hint}` : message);
    this.name = new.target.name;
  }
}

/** Thrown when pgdr.yaml (or an equivalent object) does not match the config schema. */
export class ConfigError extends PgdrError {
  readonly code = 'CONFIG_INVALID';
  override readonly nonRetryable = true;
  constructor(readonly issues: { field: string; message: string }[], source: string) {
    super(
      `invalid config in ${source}:\n` + issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n'),
      { source, fields: issues.map((i) => i.field).join(',') },
    );
  }
}

/** Thrown when a request or workflow names a cluster that is not in the config. */
export class UnknownClusterError extends PgdrError {
  readonly code = 'UNKNOWN_CLUSTER';
  override readonly nonRetryable = true;
  constructor(cluster: string, known: string[]) {
    super(`unknown cluster "${cluster}": expected one of ${known.map((k) => `"${k}"`).join(', ') || '(none configured)'}`, {
      cluster,
    });
  }
}

/** Thrown when a request names a node that the cluster does not have. */
export class UnknownNodeError extends PgdrError {
  readonly code = 'UNKNOWN_NODE';
  override readonly nonRetryable = true;
  constructor(cluster: string, node: string, known: string[]) {
    super(`unknown node "${node}" in cluster "${cluster}": expected one of ${known.map((k) => `"${k}"`).join(', ')}`, {
      cluster,
      node,
    });
  }
}

/**
 * Thrown when a node agent gets a task for another node (a task queue two nodes share, or a
 * task an older workflow version addressed by name); the agent touched nothing.
 */
export class NodeMismatchError extends PgdrError {
  readonly code = 'NODE_MISMATCH';
  override readonly nonRetryable = true;
  constructor(activity: string, asked: { cluster: string; node: string }, agent: { cluster: string; node: string }) {
    super(
      `${activity} for node "${asked.node}" of cluster "${asked.cluster}" reached the agent of node "${agent.node}" of cluster "${agent.cluster}"; refused`,
      { activity, cluster: asked.cluster, node: asked.node, agentCluster: agent.cluster, agentNode: agent.node },
      'each node needs an agent queue of its own: check agentQueue in pgdr.yaml',
    );
  }
}

/** Thrown when an external tool (pg_ctl, pg_basebackup, pgbackrest, ...) is not installed. */
export class ToolNotFoundError extends PgdrError {
  readonly code = 'TOOL_NOT_FOUND';
  override readonly nonRetryable = true;
  constructor(tool: string, path: string) {
    super(`tool "${tool}" not found at ${path}`, { tool, path }, 'check the node\'s binDir in pgdr.yaml, or run npm run bootstrap');
  }
}

/** Thrown when an external tool exits non-zero; carries the exit code and the tail of stderr. */
export class ToolFailedError extends PgdrError {
  readonly code = 'TOOL_FAILED';
  constructor(tool: string, exitCode: number | null, stderrTail: string, signal?: string) {
    super(
      `${tool} failed with ${signal ? `signal ${signal}` : `exit code ${exitCode}`}: ${stderrTail.trim() || '(no stderr)'}`,
      { tool, exitCode, signal, stderrTail },
    );
  }
}

/** Thrown when a Postgres node cannot be reached or refuses the connection. Retryable. */
export class PostgresUnreachableError extends PgdrError {
  readonly code = 'POSTGRES_UNREACHABLE';
  constructor(cluster: string, node: string, address: string, cause: string) {
    super(`cannot connect to node "${node}" of cluster "${cluster}" at ${address}: ${cause}`, { cluster, node, address }, 'is the server running and does pg_hba.conf allow pgdr?');
  }
}

/** Thrown when a secret (password, S3 key) cannot be resolved from the worker's environment. */
export class SecretUnavailableError extends PgdrError {
  readonly code = 'SECRET_UNAVAILABLE';
  override readonly nonRetryable = true;
  constructor(what: string, where: string) {
    super(`secret for ${what} is not available: ${where}`, { what, where });
  }
}

/** Thrown when a request names a schedule the cluster's config does not have. */
export class UnknownScheduleError extends PgdrError {
  readonly code = 'UNKNOWN_SCHEDULE';
  override readonly nonRetryable = true;
  constructor(cluster: string, schedule: string, known: string[]) {
    super(`unknown schedule "${schedule}" of cluster "${cluster}": expected one of ${known.map((k) => `"${k}"`).join(', ') || '(none configured)'}`, { cluster, schedule });
  }
}

/** Thrown when another mutating procedure already runs on the cluster. */
export class ClusterBusyError extends PgdrError {
  readonly code = 'CLUSTER_BUSY';
  override readonly nonRetryable = true;
  constructor(cluster: string, runningWorkflowId: string) {
    super(`cluster "${cluster}" is busy with ${runningWorkflowId}`, { cluster, runningWorkflowId }, 'wait for it to finish, or cancel it');
  }
}

/** Thrown when another restore already writes into the same directory on the same host. */
export class DestinationBusyError extends PgdrError {
  readonly code = 'DESTINATION_BUSY';
  override readonly nonRetryable = true;
  constructor(cluster: string, destination: string, runningWorkflowId: string) {
    super(`destination ${destination} of cluster "${cluster}" is already being restored by ${runningWorkflowId}`, { cluster, destination, runningWorkflowId }, 'one restore writes into a directory at a time: wait for it, cancel it, or choose another dataDir');
  }
}

/** Thrown when a restore's destination directory disappears (or is emptied) from outside pgdr while the restore runs. */
export class DestinationLostError extends PgdrError {
  readonly code = 'DESTINATION_LOST';
  override readonly nonRetryable = true;
  constructor(cluster: string, node: string, dataDir: string, detail: string) {
    super(`destination ${node}:${dataDir} of cluster "${cluster}" was removed or emptied while the restore ran (${detail}); the backup and the archive are not to blame`, { cluster, node, dataDir }, 'something outside pgdr deleted the directory; find out what, then restore again');
  }
}

/** Thrown when a stored backup fails verification; it is kept, marked failed, never listed as good. */
export class BackupVerificationError extends PgdrError {
  readonly code = 'BACKUP_VERIFICATION_FAILED';
  override readonly nonRetryable = true;
  constructor(cluster: string, backupId: string, detail: string) {
    super(`backup ${backupId} of cluster "${cluster}" failed verification: ${detail}`, { cluster, backupId });
  }
}

/** Thrown when no node can serve as the backup source the config asks for. */
export class NoBackupSourceError extends PgdrError {
  readonly code = 'NO_BACKUP_SOURCE';
  override readonly nonRetryable = true;
  constructor(cluster: string, from: 'primary' | 'standby', seen: string) {
    const wanted = from === 'standby' ? 'streaming standby' : 'primary';
    super(`no ${wanted} to back up cluster "${cluster}" from: ${seen}`, { cluster, wanted }, from === 'standby' ? 'is a standby streaming? set backup.from: primary to use the primary' : 'is the primary up and its agent running?');
  }
}

/** Thrown when a procedure needs the cluster's primary and no node reports being one. */
export class NoPrimaryError extends PgdrError {
  readonly code = 'NO_PRIMARY';
  override readonly nonRetryable = true;
  constructor(cluster: string, seen: string) {
    super(`no reachable primary in cluster "${cluster}": ${seen}`, { cluster }, 'is the primary up and its node agent running?');
  }
}

/** Thrown when `wal push` finds the segment already archived with different content; nothing is overwritten. */
export class WalConflictError extends PgdrError {
  readonly code = 'WAL_CONFLICT';
  override readonly nonRetryable = true;
  constructor(cluster: string, name: string, key: string, archivedSha256: string, localSha256: string) {
    super(
      `WAL file ${name} of cluster "${cluster}" is already archived at ${key} with different content (archived sha256 ${archivedSha256}, local ${localSha256}); refusing to overwrite it`,
      { cluster, name, key, archivedSha256, localSha256 },
      'two clusters may be archiving to the same prefix, or the cluster was re-initialised: give each system its own cluster name',
    );
  }
}

/** Thrown when an archived WAL object does not match the checksum recorded when it was pushed. */
export class WalCorruptError extends PgdrError {
  readonly code = 'WAL_CORRUPT';
  override readonly nonRetryable = true;
  constructor(cluster: string, key: string, detail: string) {
    super(`archived WAL object ${key} of cluster "${cluster}" is corrupt: ${detail}`, { cluster, key });
  }
}

/** Thrown when the WAL archive check's result is asked for before any check has run. */
export class NoWalCheckError extends PgdrError {
  readonly code = 'NO_WAL_CHECK';
  override readonly nonRetryable = true;
  constructor(cluster: string) {
    super(`no WAL archive check of cluster "${cluster}" has run yet, so its archive state and recoverable window are unknown`, { cluster }, `start one: POST /api/v1/clusters/${cluster}/wal-archive/check or pgdr wal check ${cluster}`);
  }
}

/** Raised by walArchiveCheck when the archive is unhealthy; the message lists every problem found. */
export class WalArchiveUnhealthyError extends PgdrError {
  readonly code = 'WAL_ARCHIVE_UNHEALTHY';
  override readonly nonRetryable = true;
  constructor(cluster: string, problems: string[]) {
    super(`WAL archive of cluster "${cluster}" is unhealthy: ${problems.join('; ')}`, { cluster, problems: problems.length });
  }
}

/** Thrown when a stored backup does not match its manifest (checksum, archive or pg_verifybackup); names the object. */
export class BackupCorruptError extends PgdrError {
  readonly code = 'BACKUP_CORRUPT';
  override readonly nonRetryable = true;
  constructor(cluster: string, backupId: string, object: string, detail: string) {
    super(`backup ${backupId} of cluster "${cluster}" is corrupt at ${object}: ${detail}`, { cluster, backupId, object }, 'restore from another backup (backupId), and take a new backup');
  }
}

/** Thrown when a restore's pre-flight finds a problem; nothing has been touched. */
export class RestorePreflightError extends PgdrError {
  readonly code = 'RESTORE_PREFLIGHT_FAILED';
  override readonly nonRetryable = true;
  constructor(cluster: string, readonly problems: string[]) {
    super(`restore of cluster "${cluster}" refused: ${problems.join('; ')}`, { cluster, problems: problems.length });
  }
}

/**
 * Thrown when a value has no safe spelling in postgresql.conf (a control character: a line
 * break would end the setting and start another); nothing was written.
 */
export class UnsafeConfValueError extends PgdrError {
  readonly code = 'CONF_VALUE_UNSAFE';
  override readonly nonRetryable = true;
  constructor(value: string, problem: string, setting?: string) {
    super(
      `cannot write ${setting ? `${setting} = ` : 'the value '}${JSON.stringify(value)} into postgresql.conf: ${problem}`,
      { ...(setting ? { setting } : {}), value: JSON.stringify(value) },
      'postgresql.conf values may hold any character but control characters (line breaks, tabs, NUL)',
    );
  }
}

/** Thrown when recovery stopped anywhere but the requested target; says where it stopped. */
export class RecoveryTargetMissedError extends PgdrError {
  readonly code = 'RECOVERY_TARGET_MISSED';
  override readonly nonRetryable = true;
  constructor(cluster: string, target: string, detail: string) {
    super(`restore of cluster "${cluster}" did not stop at ${target}: ${detail}`, { cluster, target }, 'nothing was promoted; check the archive (pgdr wal status) and the server log in the report');
  }
}

/** Raised by restoreDrill when a check fails; names each failed check with its actual and expected value. */
export class DrillFailedError extends PgdrError {
  readonly code = 'DRILL_FAILED';
  override readonly nonRetryable = true;
  constructor(cluster: string, failures: string[]) {
    super(`restore drill of cluster "${cluster}" failed: ${failures.join('; ')}`, { cluster, failures: failures.length });
  }
}

/** Thrown when a drill report is asked for that does not exist. */
export class UnknownDrillError extends PgdrError {
  readonly code = 'UNKNOWN_DRILL';
  override readonly nonRetryable = true;
  constructor(cluster: string, id: string) {
    super(`no drill "${id}" of cluster "${cluster}": expected the id of a stored drill report, like 20261120T224745224Z`, { cluster, id }, `list them: GET /api/v1/clusters/${cluster}/drills`);
  }
}

/** Thrown when a rebuild or switchover would touch the primary the wrong way (rebuild it, switch over to it). */
export class NodeIsPrimaryError extends PgdrError {
  readonly code = 'NODE_IS_PRIMARY';
  override readonly nonRetryable = true;
  constructor(cluster: string, node: string, what: string) {
    super(`node "${node}" of cluster "${cluster}" is the primary: ${what}`, { cluster, node }, 'name a standby; a switchover moves the primary role first');
  }
}

/** Thrown when the cluster is not in a state a rebuild or switchover may start from; lists every problem with its values. */
export class ReplicationPreconditionError extends PgdrError {
  readonly code = 'REPLICATION_PRECONDITION_FAILED';
  override readonly nonRetryable = true;
  constructor(cluster: string, procedure: string, readonly problems: string[]) {
    super(`${procedure} of cluster "${cluster}" refused: ${problems.join('; ')}`, { cluster, procedure, problems: problems.length }, 'nothing was changed');
  }
}

/** Raised by switchover when it undid itself before the point of no return; the old primary serves again. */
export class SwitchoverRolledBackError extends PgdrError {
  readonly code = 'SWITCHOVER_ROLLED_BACK';
  override readonly nonRetryable = true;
  constructor(cluster: string, candidate: string, reason: string, primary: string) {
    super(`switchover of cluster "${cluster}" to "${candidate}" rolled back: ${reason}; "${primary}" is the primary again`, { cluster, candidate, primary, reason });
  }
}

/** Thrown when a (re)built or rejoined standby does not stream and catch up in time; says how far it got. */
export class StandbyNotStreamingError extends PgdrError {
  readonly code = 'STANDBY_NOT_STREAMING';
  override readonly nonRetryable = true;
  constructor(cluster: string, node: string, detail: string) {
    super(`standby "${node}" of cluster "${cluster}" is not streaming and caught up: ${detail}`, { cluster, node });
  }
}

/** Thrown when Patroni's REST API refuses or fails a request; carries its status and answer. */
export class PatroniError extends PgdrError {
  readonly code = 'PATRONI_FAILED';
  constructor(cluster: string, request: string, status: number | null, answer: string) {
    super(`patroni of cluster "${cluster}" answered ${request} with ${status ?? 'no response'}: ${answer.trim().slice(0, 500) || '(empty)'}`, { cluster, request, status });
  }
}

/** Thrown when a PgBouncer admin command fails or times out. */
export class PgBouncerError extends PgdrError {
  readonly code = 'PGBOUNCER_FAILED';
  constructor(cluster: string, command: string, detail: string) {
    super(`pgbouncer of cluster "${cluster}" failed ${command}: ${detail}`, { cluster, command });
  }
}

/** Thrown when a directory pgdr writes into (restore destination, scratch space) runs out of space; nothing there is kept. */
export class DestinationFullError extends PgdrError {
  readonly code = 'DISK_FULL';
  override readonly nonRetryable = true;
  constructor(cluster: string, node: string, dir: string, detail: string) {
    super(`no space left in ${dir} on node "${node}" of cluster "${cluster}": ${detail}`, { cluster, node, dir }, 'free space there or choose another directory; the backup itself is not at fault');
  }
}

/** Thrown when a request names a restore that has no stored report (only finished restores have one). */
export class UnknownRestoreError extends PgdrError {
  readonly code = 'UNKNOWN_RESTORE';
  override readonly nonRetryable = true;
  constructor(cluster: string, id: string) {
    super(`no restore "${id}" of cluster "${cluster}": expected the id of a finished restore, like 20261120T224745224Z`, { cluster, id }, `list them: GET /api/v1/clusters/${cluster}/restores or pgdr restores ${cluster}`);
  }
}

/** Thrown when dropping a restored copy is refused: the directory is not provably that copy; nothing was changed. */
export class RestoreDropRefusedError extends PgdrError {
  readonly code = 'RESTORE_DROP_REFUSED';
  override readonly nonRetryable = true;
  constructor(cluster: string, id: string, readonly problems: string[]) {
    super(`drop of restore ${id} of cluster "${cluster}" refused: ${problems.join('; ')}`, { cluster, id, problems: problems.length }, 'nothing was stopped or removed');
  }
}

/**
 * Thrown when S3 storage stayed unreachable (connection refused, timeouts, 5xx) for longer than
 * storage.outageWaitSeconds; retryable: a later attempt may find it back.
 */
export class StorageUnavailableError extends PgdrError {
  readonly code = 'STORAGE_UNAVAILABLE';
  constructor(endpoint: string, waitedSeconds: number, detail: string) {
    super(`storage at ${endpoint} was unreachable for ${waitedSeconds} s: ${detail}`, { endpoint, waitedSeconds }, 'check that the S3 endpoint is up and reachable from the worker; raise storage.outageWaitSeconds to ride out longer outages');
  }
}

/**
 * Thrown when a server pgdr starts cannot bind its port (another process listens there, or
 * holds its Unix socket lock); the server exited at once and nothing replayed.
 */
export class PortUnavailableError extends PgdrError {
  readonly code = 'PORT_UNAVAILABLE';
  override readonly nonRetryable = true;
  constructor(node: string, dataDir: string, port: number, detail: string) {
    super(`port ${port} on node "${node}" is not available to the server in ${dataDir}: ${detail}`, { node, dataDir, port }, `free port ${port} on that host or choose another one (leave the port out and pgdr takes a free one of restore.portFrom..portTo)`);
  }
}

/** Thrown when every port of restore.portFrom..portTo is taken, bound or claimed by another restore on the host. */
export class NoFreePortError extends PgdrError {
  readonly code = 'NO_FREE_PORT';
  override readonly nonRetryable = true;
  constructor(cluster: string, node: string, from: number, to: number, detail: string) {
    super(`no free port for a restored instance of cluster "${cluster}" on node "${node}" in restore.portFrom..portTo (${from}-${to}): ${detail}`, { cluster, node, from, to }, 'stop restored copies you no longer need, or widen restore.portFrom..portTo');
  }
}

/**
 * Thrown when a server pgdr starts exits during its startup for another reason than its port;
 * carries the server log's reason. Retryable: a later attempt may find the cause gone.
 */
export class ServerStartFailedError extends PgdrError {
  readonly code = 'SERVER_START_FAILED';
  constructor(node: string, dataDir: string, detail: string) {
    super(`the server of node "${node}" in ${dataDir} exited while starting: ${detail}`, { node, dataDir }, 'the server log in the data directory says why');
  }
}

/** Every error class in the catalogue, for the README table and for retry profiles. */
export const errorCatalogue = {
  ConfigError,
  UnknownClusterError,
  UnknownNodeError,
  NodeMismatchError,
  UnknownScheduleError,
  ToolNotFoundError,
  ToolFailedError,
  PostgresUnreachableError,
  SecretUnavailableError,
  ClusterBusyError,
  DestinationBusyError,
  DestinationLostError,
  BackupVerificationError,
  NoBackupSourceError,
  NoPrimaryError,
  WalConflictError,
  WalCorruptError,
  WalArchiveUnhealthyError,
  NoWalCheckError,
  RestorePreflightError,
  RecoveryTargetMissedError,
  UnsafeConfValueError,
  BackupCorruptError,
  DrillFailedError,
  UnknownDrillError,
  NodeIsPrimaryError,
  ReplicationPreconditionError,
  SwitchoverRolledBackError,
  StandbyNotStreamingError,
  PatroniError,
  PgBouncerError,
  DestinationFullError,
  StorageUnavailableError,
  UnknownRestoreError,
  RestoreDropRefusedError,
  PortUnavailableError,
  NoFreePortError,
  ServerStartFailedError,
} as const;

/** Names of the error types that must never be retried, for activity option profiles. */
export const nonRetryableErrorTypes: string[] = [
  'ConfigError',
  'UnknownClusterError',
  'UnknownNodeError',
  'NodeMismatchError',
  'UnknownScheduleError',
  'ToolNotFoundError',
  'SecretUnavailableError',
  'ClusterBusyError',
  'DestinationBusyError',
  'DestinationLostError',
  'BackupVerificationError',
  'NoBackupSourceError',
  'NoPrimaryError',
  'WalConflictError',
  'WalCorruptError',
  'WalArchiveUnhealthyError',
  'NoWalCheckError',
  'RestorePreflightError',
  'RecoveryTargetMissedError',
  'UnsafeConfValueError',
  'BackupCorruptError',
  'DrillFailedError',
  'UnknownDrillError',
  'NodeIsPrimaryError',
  'ReplicationPreconditionError',
  'SwitchoverRolledBackError',
  'StandbyNotStreamingError',
  'DestinationFullError',
  'UnknownRestoreError',
  'RestoreDropRefusedError',
  'PortUnavailableError',
  'NoFreePortError',
];

/** True when a tool's stderr says the disk (or quota) is full. */
export function saysDiskFull(stderr: unknown): boolean {
  return /No space left on device|Disk quota exceeded/i.test(String(stderr));
}

/** The stderr line that says so (for the message). */
export function diskFullLine(stderr: unknown): string {
  return String(stderr).split('\n').find((l) => saysDiskFull(l))?.trim() ?? 'no space left on device';
}

/**
 * The one mapping from pgdr errors to Temporal failures. The failure's type is the class
 * name, so workflows and clients can match on it; `details[0]` carries code and context.
 */
export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof PgdrError) {
    return ApplicationFailure.create({
      type: err.name,
      message: err.message,
      nonRetryable: err.nonRetryable,
      details: [{ code: err.code, ...err.context }],
    });
  }
  return err;
}
