/**
 * The pgdr error catalogue. Every error a procedure can raise on purpose is a subclass of
 * {@link PgdrError} and keeps the values it is about in `context` (never a secret). Messages
 * are lowercase, name the actual and the expected value, and may end with a HINT.
 *
 * Everything else about an error is declared once, in its row of {@link errorTable}: its
 * stable code, whether a retry can help, the API's HTTP status, what it means and its hint.
 * The retry profiles' non-retryable types, the API's status map and the README's error table
 * are derived from it (scripts/error-reference.ts writes the README's).
 *
 * This module is imported by workflow code, so it must not import anything from Node.
 */
import { ApplicationFailure } from '@temporalio/common';

export type ErrorContext = Record<string, string | number | boolean | null | undefined>;

export abstract class PgdrError extends Error {
  /** Stable identifier: the row's code in {@link errorTable}. */
  readonly code: string;
  /** True when a retry cannot help (bad input, refused precondition, missing tool): the row says so. */
  readonly nonRetryable: boolean;
  /** The hint the message ends with: the one given, else the row's, its `{name}`s filled from `context`. */
  readonly hint?: string;

  /** `hint` replaces the table's hint where the error knows a more precise one. */
  constructor(
    message: string,
    readonly context: ErrorContext = {},
    hint?: string,
  ) {
    const row = errorRow(new.target);
    const shown = hint ?? (row.hint === undefined ? undefined : fillHint(row.hint, context));
    super(shown ? `${message}\nHINT: ${shown}` : message);
    this.name = new.target.name;
    this.code = row.code;
    this.nonRetryable = !row.retryable;
    this.hint = shown;
  }
}

/** Thrown when pgdr.yaml (or an equivalent object) does not match the config schema. */
export class ConfigError extends PgdrError {
  constructor(
    readonly issues: { field: string; message: string }[],
    source: string,
  ) {
    super(`invalid config in ${source}:\n` + issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n'), {
      source,
      fields: issues.map((i) => i.field).join(','),
    });
  }
}

/** Thrown when a request or workflow names a cluster that is not in the config. */
export class UnknownClusterError extends PgdrError {
  constructor(cluster: string, known: string[]) {
    super(`unknown cluster "${cluster}": expected one of ${known.map((k) => `"${k}"`).join(', ') || '(none configured)'}`, {
      cluster,
    });
  }
}

/** Thrown when a request names a node that the cluster does not have. */
export class UnknownNodeError extends PgdrError {
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
  constructor(activity: string, asked: { cluster: string; node: string }, agent: { cluster: string; node: string }) {
    super(
      `${activity} for node "${asked.node}" of cluster "${asked.cluster}" reached the agent of node "${agent.node}" of cluster "${agent.cluster}"; refused`,
      { activity, cluster: asked.cluster, node: asked.node, agentCluster: agent.cluster, agentNode: agent.node },
    );
  }
}

/** Thrown when an external tool (pg_ctl, pg_basebackup, pgbackrest, ...) is not installed. */
export class ToolNotFoundError extends PgdrError {
  constructor(tool: string, path: string) {
    super(`tool "${tool}" not found at ${path}`, { tool, path });
  }
}

/** Thrown when an external tool exits non-zero; carries the exit code and the tail of stderr. */
export class ToolFailedError extends PgdrError {
  constructor(tool: string, exitCode: number | null, stderrTail: string, signal?: string) {
    super(`${tool} failed with ${signal ? `signal ${signal}` : `exit code ${exitCode}`}: ${stderrTail.trim() || '(no stderr)'}`, {
      tool,
      exitCode,
      signal,
      stderrTail,
    });
  }
}

/** Thrown when a Postgres node cannot be reached or refuses the connection. Retryable. */
export class PostgresUnreachableError extends PgdrError {
  constructor(cluster: string, node: string, address: string, cause: string) {
    super(`cannot connect to node "${node}" of cluster "${cluster}" at ${address}: ${cause}`, { cluster, node, address });
  }
}

/**
 * Thrown when pgdr cannot open its connection to Temporal (worker, API, schedule reconciler):
 * names the address and why, in TLS terms where TLS failed (no client certificate, unknown CA,
 * name mismatch), never with a secret. Retryable: the service or a fixed certificate may come.
 */
export class TemporalConnectError extends PgdrError {
  constructor(address: string, reason: string, hint?: string) {
    super(`cannot connect to temporal at ${address}: ${reason}`, { address, reason }, hint);
  }
}

/**
 * Thrown when the TLS handshake with a Postgres node fails: its certificate is not signed by
 * sslRootCert, does not name the address, the server has no TLS, or it refused the client certificate.
 */
export class PostgresTlsError extends PgdrError {
  constructor(cluster: string, node: string, address: string, sslmode: string, rootCert: string | null, reason: string) {
    super(
      `tls to node "${node}" of cluster "${cluster}" at ${address} failed (sslmode ${sslmode}, root certificate ${rootCert ?? 'none'}): ${reason}`,
      { cluster, node, address, sslmode, rootCert },
    );
  }
}

/** Thrown when a secret (password, S3 key) cannot be resolved from the worker's environment. */
export class SecretUnavailableError extends PgdrError {
  constructor(what: string, where: string, hint?: string) {
    super(`secret for ${what} is not available: ${where}`, { what, where }, hint);
  }
}

/** Thrown when a request names a schedule the cluster's config does not have. */
export class UnknownScheduleError extends PgdrError {
  constructor(cluster: string, schedule: string, known: string[]) {
    super(
      `unknown schedule "${schedule}" of cluster "${cluster}": expected one of ${known.map((k) => `"${k}"`).join(', ') || '(none configured)'}`,
      { cluster, schedule },
    );
  }
}

/** Thrown when another mutating procedure already runs on the cluster. */
export class ClusterBusyError extends PgdrError {
  constructor(cluster: string, runningWorkflowId: string) {
    super(`cluster "${cluster}" is busy with ${runningWorkflowId}`, { cluster, runningWorkflowId });
  }
}

/** Thrown when another restore already writes into the same directory on the same host. */
export class DestinationBusyError extends PgdrError {
  constructor(cluster: string, destination: string, runningWorkflowId: string) {
    super(`destination ${destination} of cluster "${cluster}" is already being restored by ${runningWorkflowId}`, {
      cluster,
      destination,
      runningWorkflowId,
    });
  }
}

/** Thrown when a restore's destination directory disappears (or is emptied) from outside pgdr while the restore runs. */
export class DestinationLostError extends PgdrError {
  constructor(cluster: string, node: string, dataDir: string, detail: string) {
    super(
      `destination ${node}:${dataDir} of cluster "${cluster}" was removed or emptied while the restore ran (${detail}); ` +
        'the backup and the archive are not to blame',
      { cluster, node, dataDir },
    );
  }
}

/** Thrown when a stored backup fails verification; it is kept, marked failed, never listed as good. */
export class BackupVerificationError extends PgdrError {
  constructor(cluster: string, backupId: string, detail: string) {
    super(`backup ${backupId} of cluster "${cluster}" failed verification: ${detail}`, { cluster, backupId });
  }
}

/** Thrown when no node can serve as the backup source the config asks for. */
export class NoBackupSourceError extends PgdrError {
  constructor(cluster: string, from: 'primary' | 'standby', seen: string) {
    const wanted = from === 'standby' ? 'streaming standby' : 'primary';
    // The table's hint is the standby one; a missing primary has its own.
    const hint = from === 'standby' ? undefined : 'is the primary up and its agent running?';
    super(`no ${wanted} to back up cluster "${cluster}" from: ${seen}`, { cluster, wanted }, hint);
  }
}

/**
 * Thrown by the streaming activity when the node chosen to back up from no longer has the role it
 * was chosen for: probed as the backup took its lock, before a switchover that held it had ended.
 * Nothing was stored; the backup probes again inside its lock and streams from the right node.
 */
export class BackupSourceChangedError extends PgdrError {
  constructor(cluster: string, node: string, wanted: 'primary' | 'standby') {
    const found = wanted === 'primary' ? 'standby' : 'primary';
    super(
      `node "${node}" of cluster "${cluster}" is a ${found} now, not the ${wanted} the backup chose to stream from; nothing was stored`,
      {
        cluster,
        node,
        wanted,
      },
    );
  }
}

/** Thrown when a procedure needs the cluster's primary and no node reports being one. */
export class NoPrimaryError extends PgdrError {
  constructor(cluster: string, seen: string) {
    super(`no reachable primary in cluster "${cluster}": ${seen}`, { cluster });
  }
}

/** Thrown when `wal push` finds the segment already archived with different content; nothing is overwritten. */
export class WalConflictError extends PgdrError {
  constructor(cluster: string, name: string, key: string, archivedSha256: string, localSha256: string) {
    super(
      `WAL file ${name} of cluster "${cluster}" is already archived at ${key} with different content (archived sha256 ${archivedSha256}, local ${localSha256}); refusing to overwrite it`,
      { cluster, name, key, archivedSha256, localSha256 },
    );
  }
}

/** Thrown when an archived WAL object does not match the checksum recorded when it was pushed. */
export class WalCorruptError extends PgdrError {
  constructor(cluster: string, key: string, detail: string) {
    super(`archived WAL object ${key} of cluster "${cluster}" is corrupt: ${detail}`, { cluster, key });
  }
}

/** Thrown when the WAL archive check's result is asked for before any check has run. */
export class NoWalCheckError extends PgdrError {
  constructor(cluster: string) {
    super(`no WAL archive check of cluster "${cluster}" has run yet, so its archive state and recoverable window are unknown`, { cluster });
  }
}

/** Raised by walArchiveCheck when the archive is unhealthy; the message lists every problem found. */
export class WalArchiveUnhealthyError extends PgdrError {
  constructor(cluster: string, problems: string[]) {
    super(`WAL archive of cluster "${cluster}" is unhealthy: ${problems.join('; ')}`, { cluster, problems: problems.length });
  }
}

/** Thrown when a stored backup does not match its manifest (checksum, archive or pg_verifybackup); names the object. */
export class BackupCorruptError extends PgdrError {
  constructor(cluster: string, backupId: string, object: string, detail: string) {
    super(`backup ${backupId} of cluster "${cluster}" is corrupt at ${object}: ${detail}`, { cluster, backupId, object });
  }
}

/** Thrown when a restore's pre-flight finds a problem; nothing has been touched. */
export class RestorePreflightError extends PgdrError {
  constructor(
    cluster: string,
    readonly problems: string[],
  ) {
    super(`restore of cluster "${cluster}" refused: ${problems.join('; ')}`, { cluster, problems: problems.length });
  }
}

/**
 * Thrown when a value has no safe spelling in postgresql.conf (a control character: a line
 * break would end the setting and start another); nothing was written.
 */
export class UnsafeConfValueError extends PgdrError {
  constructor(value: string, problem: string, setting?: string) {
    super(`cannot write ${setting ? `${setting} = ` : 'the value '}${JSON.stringify(value)} into postgresql.conf: ${problem}`, {
      ...(setting ? { setting } : {}),
      value: JSON.stringify(value),
    });
  }
}

/** Thrown when recovery stopped anywhere but the requested target; says where it stopped. */
export class RecoveryTargetMissedError extends PgdrError {
  constructor(cluster: string, target: string, detail: string) {
    super(`restore of cluster "${cluster}" did not stop at ${target}: ${detail}`, { cluster, target });
  }
}

/** Raised by restoreDrill when a check fails; names each failed check with its actual and expected value. */
export class DrillFailedError extends PgdrError {
  constructor(cluster: string, failures: string[]) {
    super(`restore drill of cluster "${cluster}" failed: ${failures.join('; ')}`, { cluster, failures: failures.length });
  }
}

/** Thrown when a drill report is asked for that does not exist. */
export class UnknownDrillError extends PgdrError {
  constructor(cluster: string, id: string) {
    super(`no drill "${id}" of cluster "${cluster}": expected the id of a stored drill report, like 20261120T224745224Z`, { cluster, id });
  }
}

/** Thrown when a rebuild or switchover would touch the primary the wrong way (rebuild it, switch over to it). */
export class NodeIsPrimaryError extends PgdrError {
  constructor(cluster: string, node: string, what: string) {
    super(`node "${node}" of cluster "${cluster}" is the primary: ${what}`, { cluster, node });
  }
}

/** Thrown when the cluster is not in a state a rebuild or switchover may start from; lists every problem with its values. */
export class ReplicationPreconditionError extends PgdrError {
  constructor(
    cluster: string,
    procedure: string,
    readonly problems: string[],
  ) {
    super(`${procedure} of cluster "${cluster}" refused: ${problems.join('; ')}`, { cluster, procedure, problems: problems.length });
  }
}

/** Raised by switchover when it undid itself before the point of no return; the old primary serves again. */
export class SwitchoverRolledBackError extends PgdrError {
  constructor(cluster: string, candidate: string, reason: string, primary: string) {
    super(`switchover of cluster "${cluster}" to "${candidate}" rolled back: ${reason}; "${primary}" is the primary again`, {
      cluster,
      candidate,
      primary,
      reason,
    });
  }
}

/** Thrown when a (re)built or rejoined standby does not stream and catch up in time; says how far it got. */
export class StandbyNotStreamingError extends PgdrError {
  constructor(cluster: string, node: string, detail: string) {
    super(`standby "${node}" of cluster "${cluster}" is not streaming and caught up: ${detail}`, { cluster, node });
  }
}

/** Thrown when Patroni's REST API refuses or fails a request; carries its status and answer. */
export class PatroniError extends PgdrError {
  constructor(cluster: string, request: string, status: number | null, answer: string) {
    super(
      `patroni of cluster "${cluster}" answered ${request} with ${status ?? 'no response'}: ${answer.trim().slice(0, 500) || '(empty)'}`,
      { cluster, request, status },
    );
  }
}

/** Thrown when a PgBouncer admin command fails or times out. */
export class PgBouncerError extends PgdrError {
  constructor(cluster: string, command: string, detail: string) {
    super(`pgbouncer of cluster "${cluster}" failed ${command}: ${detail}`, { cluster, command });
  }
}

/** Thrown when a directory pgdr writes into (restore destination, scratch space) runs out of space; nothing there is kept. */
export class DestinationFullError extends PgdrError {
  constructor(cluster: string, node: string, dir: string, detail: string) {
    super(`no space left in ${dir} on node "${node}" of cluster "${cluster}": ${detail}`, { cluster, node, dir });
  }
}

/** Thrown when a request names a restore that has no stored report (only finished restores have one). */
export class UnknownRestoreError extends PgdrError {
  constructor(cluster: string, id: string) {
    super(`no restore "${id}" of cluster "${cluster}": expected the id of a finished restore, like 20261120T224745224Z`, { cluster, id });
  }
}

/** Thrown when dropping a restored copy is refused: the directory is not provably that copy; nothing was changed. */
export class RestoreDropRefusedError extends PgdrError {
  constructor(
    cluster: string,
    id: string,
    readonly problems: string[],
  ) {
    super(`drop of restore ${id} of cluster "${cluster}" refused: ${problems.join('; ')}`, { cluster, id, problems: problems.length });
  }
}

/**
 * Thrown when S3 storage stayed unreachable (connection refused, timeouts, 5xx) for longer than
 * storage.outageWaitSeconds; retryable: a later attempt may find it back.
 */
export class StorageUnavailableError extends PgdrError {
  constructor(endpoint: string, waitedSeconds: number, detail: string) {
    super(`storage at ${endpoint} was unreachable for ${waitedSeconds} s: ${detail}`, { endpoint, waitedSeconds });
  }
}

/**
 * Thrown when a server pgdr starts cannot bind its port (another process listens there, or
 * holds its Unix socket lock); the server exited at once and nothing replayed.
 */
export class PortUnavailableError extends PgdrError {
  constructor(node: string, dataDir: string, port: number, detail: string) {
    super(`port ${port} on node "${node}" is not available to the server in ${dataDir}: ${detail}`, { node, dataDir, port });
  }
}

/** Thrown when every port of restore.portFrom..portTo is taken, bound or claimed by another restore on the host. */
export class NoFreePortError extends PgdrError {
  constructor(cluster: string, node: string, from: number, to: number, detail: string) {
    super(
      `no free port for a restored instance of cluster "${cluster}" on node "${node}" in restore.portFrom..portTo (${from}-${to}): ` +
        detail,
      { cluster, node, from, to },
    );
  }
}

/**
 * Thrown when a server pgdr starts exits during its startup for another reason than its port;
 * carries the server log's reason. Retryable: a later attempt may find the cause gone.
 */
export class ServerStartFailedError extends PgdrError {
  constructor(node: string, dataDir: string, detail: string) {
    super(`the server of node "${node}" in ${dataDir} exited while starting: ${detail}`, { node, dataDir });
  }
}

/**
 * Thrown when a node's server manager runs another data directory than the node's dataDir (a
 * pg_ctlcluster cluster whose data_directory is elsewhere): pgdr would restore or rebuild one
 * directory and start another. Nothing was started or stopped.
 */
export class ServerManagerMismatchError extends PgdrError {
  constructor(node: string, manager: string, dataDir: string, managedDataDir: string) {
    super(
      `node "${node}" says its server is run by "${manager}", whose data directory is ${managedDataDir}, not the node's dataDir ${dataDir}; nothing was started or stopped`,
      { node, manager, dataDir, managedDataDir },
    );
  }
}

/**
 * Thrown when a node's manager cannot run its server safely on that host: pg_ctlcluster where
 * systemd manages the cluster (run as the node's OS user it would bypass the unit, which then
 * shows failed and no longer stops the server at shutdown). Nothing was started or stopped.
 */
export class ServerManagerUnsuitableError extends PgdrError {
  constructor(node: string, manager: string, why: string, instead: string) {
    super(`node "${node}" says its server is run by "${manager}", but ${why}; expected "${instead}"; nothing was started or stopped`, {
      node,
      manager,
      instead,
    });
  }
}

/** Thrown when `pgbackrest verify` finds a backup set damaged (or does not report it); nothing was restored from it. */
export class PgbackrestVerifyFailedError extends PgdrError {
  constructor(cluster: string, label: string, detail: string) {
    super(`backup set ${label} of cluster "${cluster}" failed pgbackrest verify: ${detail}`, { cluster, label });
  }
}

/**
 * Thrown when a node's Postgres tools (binDir) are of another major version than the server
 * they work on, or than the backup a restore would start: names both versions; nothing was created.
 */
export class PgVersionMismatchError extends PgdrError {
  constructor(
    cluster: string,
    node: string,
    tool: string,
    toolVersion: string,
    against: string,
    expectedVersion: string,
    expectedMajor: number,
  ) {
    super(
      `${tool} on node "${node}" of cluster "${cluster}" is PostgreSQL ${toolVersion}, but ${against} is PostgreSQL ${expectedVersion}: ` +
        `the tools must be of the same major version (${expectedMajor}); nothing was created`,
      { cluster, node, tool, toolVersion, against, expectedVersion, expectedMajor },
    );
  }
}

/** Thrown when a server (or a backup) is of a PostgreSQL major version outside pgdr's table (domain/pgVersions.ts). */
export class PgVersionUnsupportedError extends PgdrError {
  constructor(cluster: string, what: string, version: string, supported: string) {
    super(`${what} of cluster "${cluster}" is PostgreSQL ${version}: pgdr supports PostgreSQL ${supported}; nothing was created`, {
      cluster,
      what,
      version,
      supported,
    });
  }
}

/**
 * Thrown when one cluster's WAL is said to have more than one segment size (server, backups,
 * archive): one cluster has one size (initdb --wal-segsize), so two systems share the prefix.
 */
export class WalSegmentSizeMismatchError extends PgdrError {
  constructor(cluster: string, sizes: string) {
    super(`cluster "${cluster}" has more than one WAL segment size: ${sizes}; refused`, { cluster, sizes });
  }
}

/**
 * Thrown when an age-encrypted object cannot be decrypted on this worker: the cluster lists no
 * identity, an identity's secret is not readable here, or none of them matches the object's
 * recipients. Names the object and the fingerprints of the recipients it was encrypted to.
 */
export class EncryptionKeyError extends PgdrError {
  constructor(cluster: string, object: string, why: string, recipients = '') {
    super(
      `cannot decrypt ${object} of cluster "${cluster}": ${why}${recipients ? ` (encrypted to recipient fingerprints ${recipients})` : ''}`,
      {
        cluster,
        object,
        why,
        recipients,
      },
    );
  }
}

/**
 * Thrown at start-up when storage.objectLock is set but the bucket has no Object Lock enabled
 * (S3 would refuse every locked write); names the field, its value and what the bucket says.
 */
export class ObjectLockUnavailableError extends PgdrError {
  constructor(bucket: string, setting: string, found: string) {
    super(`storage.objectLock is ${setting} but bucket "${bucket}" ${found}: expected a bucket created with Object Lock enabled`, {
      bucket,
      setting,
      found,
    });
  }
}

/** Thrown when a request or step names the secondary repository and storage.secondary is not configured. */
export class RepositoryNotConfiguredError extends PgdrError {
  constructor(repository: string) {
    super(
      `repository is "${repository}" but storage.secondary is not configured: expected "primary" or "auto", or a storage.secondary section in pgdr.yaml`,
      { repository },
    );
  }
}

/**
 * Thrown by a copy's verification: objects on the secondary whose bytes differ from what was
 * copied (or that are gone); names every object by its s3:// URL.
 */
export class CopyCorruptError extends PgdrError {
  constructor(cluster: string, problems: string[]) {
    super(`the secondary's copy of cluster ${cluster} is damaged: ${problems.join('; ')}`, { cluster, problems: problems.join('\n') });
  }
}

/** One row of {@link errorTable}: everything pgdr declares about one error. */
export interface ErrorRow {
  /** Stable identifier: the API's `error.code` and the failure's `details[0].code`. */
  readonly code: string;
  /** The class; its name is the Temporal failure's type. */
  readonly class: abstract new (...args: never[]) => PgdrError;
  /** False when a retry cannot help; its class is then among {@link nonRetryableErrorTypes}. */
  readonly retryable: boolean;
  /**
   * The API's answer when a route meets the error; null for a failure of a running procedure
   * (its workflow's result carries it), which the API answers with 500 should it meet one.
   */
  readonly http: number | null;
  /** One line for the README: what happened, and what the error names. */
  readonly meaning: string;
  /** The message's HINT, `{name}` filled from the error's context; a class may pass a more precise one. */
  readonly hint?: string;
}

/** Every error pgdr raises on purpose, in the README's order. */
export const errorTable: readonly ErrorRow[] = [
  {
    code: 'CONFIG_INVALID',
    class: ConfigError,
    retryable: false,
    http: 500,
    meaning: 'pgdr.yaml does not match the schema; names every bad field',
  },
  {
    code: 'UNKNOWN_CLUSTER',
    class: UnknownClusterError,
    retryable: false,
    http: 404,
    meaning: 'the cluster is not in pgdr.yaml',
  },
  {
    code: 'UNKNOWN_NODE',
    class: UnknownNodeError,
    retryable: false,
    http: 404,
    meaning: 'the node is not in the cluster',
  },
  {
    code: 'UNKNOWN_SCHEDULE',
    class: UnknownScheduleError,
    retryable: false,
    http: 404,
    meaning: "the schedule is not in the cluster's config",
  },
  {
    code: 'NODE_MISMATCH',
    class: NodeMismatchError,
    retryable: false,
    http: null,
    meaning:
      "a node agent got a task naming another node (an older workflow's task, or an agent started with another pgdr.yaml); names both nodes; nothing touched",
    hint: 'each agent serves the one node its queue belongs to (pgdr.yaml refuses shared queues): check that the agent on this host runs the same pgdr.yaml as the control worker',
  },
  {
    code: 'TOOL_NOT_FOUND',
    class: ToolNotFoundError,
    retryable: false,
    http: 500,
    meaning: "a Postgres tool is missing from the node's binDir",
    hint: "check the node's binDir in pgdr.yaml, or run npm run bootstrap",
  },
  {
    code: 'TOOL_FAILED',
    class: ToolFailedError,
    retryable: true,
    http: 500,
    meaning: 'a tool exited non-zero; carries exit code and stderr tail',
  },
  {
    code: 'POSTGRES_UNREACHABLE',
    class: PostgresUnreachableError,
    retryable: true,
    http: 500,
    meaning: 'a node refused or did not answer the connection',
    hint: 'is the server running and does pg_hba.conf allow pgdr?',
  },
  {
    code: 'TEMPORAL_CONNECT_FAILED',
    class: TemporalConnectError,
    retryable: true,
    http: 503,
    meaning: 'a worker, the API or the reconciler could not connect to Temporal; names the address and the TLS or network reason',
    hint: 'check temporal.address and temporal.tls / TEMPORAL_* in the environment of this process',
  },
  {
    code: 'POSTGRES_TLS',
    class: PostgresTlsError,
    retryable: false,
    http: 500,
    meaning:
      'the TLS handshake with a node failed (certificate not signed by sslRootCert, host name not in it, no TLS on the server, client certificate refused); names the node, address, sslmode and the TLS reason',
    hint: "check the cluster's (or node's) sslRootCert against the CA that signed the server's certificate, and that the certificate names the node's host",
  },
  {
    code: 'SECRET_UNAVAILABLE',
    class: SecretUnavailableError,
    retryable: false,
    http: 500,
    meaning: 'a secret reference could not be resolved on the worker',
  },
  {
    code: 'CLUSTER_BUSY',
    class: ClusterBusyError,
    retryable: false,
    http: 409,
    meaning: 'another mutating procedure runs on the cluster; names it',
    hint: 'wait for it to finish, or cancel it',
  },
  {
    code: 'DESTINATION_BUSY',
    class: DestinationBusyError,
    retryable: false,
    http: 409,
    meaning: 'another restore already writes into the same directory on the same host; names it',
    hint: 'one restore writes into a directory at a time: wait for it, cancel it, or choose another dataDir',
  },
  {
    code: 'DESTINATION_LOST',
    class: DestinationLostError,
    retryable: false,
    http: null,
    meaning: "a restore's destination was removed or emptied from outside pgdr while it ran; the backup and archive are not blamed",
    hint: 'something outside pgdr deleted the directory; find out what, then restore again',
  },
  {
    code: 'CONF_VALUE_UNSAFE',
    class: UnsafeConfValueError,
    retryable: false,
    http: null,
    meaning: 'a value has no safe spelling in postgresql.conf (a control character); names setting and value; nothing written',
    hint: 'postgresql.conf values may hold any character but control characters (line breaks, tabs, NUL)',
  },
  {
    code: 'UNKNOWN_RESTORE',
    class: UnknownRestoreError,
    retryable: false,
    http: 404,
    meaning: 'no finished restore with that id',
    hint: 'list them: GET /api/v1/clusters/{cluster}/restores or pgdr restores {cluster}',
  },
  {
    code: 'RESTORE_DROP_REFUSED',
    class: RestoreDropRefusedError,
    retryable: false,
    http: 422,
    meaning: "the directory is not provably that restore's copy; nothing stopped or removed",
    hint: 'nothing was stopped or removed',
  },
  {
    code: 'PORT_UNAVAILABLE',
    class: PortUnavailableError,
    retryable: false,
    http: null,
    meaning:
      'a server pgdr started could not bind its port (a listener, or its socket lock); names the port and directory; nothing replayed',
    hint: 'free port {port} on that host or choose another one (leave the port out and pgdr takes a free one of restore.portFrom..portTo)',
  },
  {
    code: 'NO_FREE_PORT',
    class: NoFreePortError,
    retryable: false,
    http: null,
    meaning: "every port of `restore.portFrom..portTo` is bound, claimed by another restore, or a node's",
    hint: 'stop restored copies you no longer need, or widen restore.portFrom..portTo',
  },
  {
    code: 'SERVER_START_FAILED',
    class: ServerStartFailedError,
    retryable: true,
    http: null,
    meaning: "a node's server exited while starting (rebuild, rejoin); carries the log's reason",
    hint: 'the server log in the data directory says why',
  },
  {
    code: 'SERVER_MANAGER_MISMATCH',
    class: ServerManagerMismatchError,
    retryable: false,
    http: 422,
    meaning:
      "a node's manager (pg_ctlcluster) runs another data directory than the node's dataDir; names both; nothing was started or stopped",
    hint: 'make nodes.{node}.dataDir the data directory pg_lsclusters shows for that cluster, or name the right cluster in nodes.{node}.manager',
  },
  {
    code: 'SERVER_MANAGER_UNSUITABLE',
    class: ServerManagerUnsuitableError,
    retryable: false,
    http: 422,
    meaning:
      "a node's manager cannot run its server safely on that host (pg_ctlcluster where systemd manages the cluster); nothing was started or stopped",
    hint: 'set nodes.{node}.manager to "{instead}" (the agent needs permission to manage that unit)',
  },
  {
    code: 'PG_VERSION_MISMATCH',
    class: PgVersionMismatchError,
    retryable: false,
    http: 422,
    meaning:
      "a node's tools (binDir) are of another PostgreSQL major version than its server, or than the backup a restore, drill or rebuild starts from; names both versions; nothing was created",
    hint: "point the node's binDir at the PostgreSQL {expectedMajor} tools (Debian: /usr/lib/postgresql/{expectedMajor}/bin)",
  },
  {
    code: 'PG_VERSION_UNSUPPORTED',
    class: PgVersionUnsupportedError,
    retryable: false,
    http: 422,
    meaning:
      'a server, its tools or a backup are of a PostgreSQL major version pgdr does not support; names the version and the supported ones',
    hint: 'the supported versions are in the README (PostgreSQL versions)',
  },
  {
    code: 'WAL_SEGMENT_SIZE_MISMATCH',
    class: WalSegmentSizeMismatchError,
    retryable: false,
    http: 422,
    meaning: "the server, the backups' manifests and the archive disagree on the WAL segment size; names each; nothing was judged",
    hint: 'two systems may share this cluster name or prefix: give each system its own cluster name',
  },
  {
    code: 'BACKUP_VERIFICATION_FAILED',
    class: BackupVerificationError,
    retryable: false,
    http: null,
    meaning: 'the stored backup failed its checksum or pg_verifybackup; it is kept, marked failed',
  },
  {
    code: 'NO_BACKUP_SOURCE',
    class: NoBackupSourceError,
    retryable: false,
    http: 422,
    meaning: 'no primary, or no streaming standby when `backup.from: standby`',
    hint: 'is a standby streaming? set backup.from: primary to use the primary',
  },
  {
    code: 'BACKUP_SOURCE_CHANGED',
    class: BackupSourceChangedError,
    retryable: false,
    http: null,
    meaning:
      'the node a backup chose to stream from changed role before streaming began (a switchover ended as the backup took its lock); nothing was stored; the backup probes again inside its lock and streams from the node that has the role now, and fails with this error only if the role changes again',
  },
  {
    code: 'NO_PRIMARY',
    class: NoPrimaryError,
    retryable: false,
    http: 422,
    meaning: 'no node of the cluster reports being the primary',
    hint: 'is the primary up and its node agent running?',
  },
  {
    code: 'WAL_CONFLICT',
    class: WalConflictError,
    retryable: false,
    http: null,
    meaning: '`wal push` found the file archived with other content; nothing is overwritten',
    hint: 'two clusters may be archiving to the same prefix, or the cluster was re-initialised: give each system its own cluster name',
  },
  {
    code: 'WAL_CORRUPT',
    class: WalCorruptError,
    retryable: false,
    http: 422,
    meaning: 'an archived WAL object does not match the sha256 recorded at push (fetch exits 126)',
  },
  {
    code: 'WAL_ARCHIVE_UNHEALTHY',
    class: WalArchiveUnhealthyError,
    retryable: false,
    http: null,
    meaning: 'walArchiveCheck found problems; the message lists each',
  },
  {
    code: 'NO_WAL_CHECK',
    class: NoWalCheckError,
    retryable: false,
    http: 404,
    meaning: 'archive state or recoverable window asked for before any WAL archive check ran',
    hint: 'start one: POST /api/v1/clusters/{cluster}/wal-archive/check or pgdr wal check {cluster}',
  },
  {
    code: 'RESTORE_PREFLIGHT_FAILED',
    class: RestorePreflightError,
    retryable: false,
    http: 422,
    meaning: "a restore's pre-flight refused; lists every problem with the value and the valid range; nothing was created",
  },
  {
    code: 'RECOVERY_TARGET_MISSED',
    class: RecoveryTargetMissedError,
    retryable: false,
    http: null,
    meaning: 'recovery stopped somewhere other than the target (or the server exited first); says where; the restore is undone',
    hint: 'nothing was promoted; check the archive (pgdr wal status) and the server log in the report',
  },
  {
    code: 'PGBACKREST_VERIFY_FAILED',
    class: PgbackrestVerifyFailedError,
    retryable: false,
    http: null,
    meaning:
      "`pgbackrest verify` found the backup set damaged, or did not report it; names the set and pgBackRest's words; nothing was restored",
    hint: 'restore from another backup (backupId), and take a new backup',
  },
  {
    code: 'BACKUP_CORRUPT',
    class: BackupCorruptError,
    retryable: false,
    http: 422,
    meaning: 'a backup object does not match its manifest (sha256, tar, pg_verifybackup); names the object',
    hint: 'restore from another backup (backupId), and take a new backup',
  },
  {
    code: 'DRILL_FAILED',
    class: DrillFailedError,
    retryable: false,
    http: null,
    meaning: 'a restore drill check failed; names each failed check with its actual and expected value',
  },
  {
    code: 'UNKNOWN_DRILL',
    class: UnknownDrillError,
    retryable: false,
    http: 404,
    meaning: 'no stored drill report has that id',
    hint: 'list them: GET /api/v1/clusters/{cluster}/drills',
  },
  {
    code: 'NODE_IS_PRIMARY',
    class: NodeIsPrimaryError,
    retryable: false,
    http: 422,
    meaning: "a rebuild named the primary, or a switchover's candidate is already the primary",
    hint: 'name a standby; a switchover moves the primary role first',
  },
  {
    code: 'REPLICATION_PRECONDITION_FAILED',
    class: ReplicationPreconditionError,
    retryable: false,
    http: 412,
    meaning: 'a rebuild or switchover precondition does not hold; each problem with its values; nothing changed',
    hint: 'nothing was changed',
  },
  {
    code: 'SWITCHOVER_ROLLED_BACK',
    class: SwitchoverRolledBackError,
    retryable: false,
    http: null,
    meaning: 'the switchover undid itself before promotion; says why; the old primary serves again',
  },
  {
    code: 'STANDBY_NOT_STREAMING',
    class: StandbyNotStreamingError,
    retryable: false,
    http: null,
    meaning: 'a rebuilt or rejoined standby did not stream and catch up in time; says how far it got',
  },
  {
    code: 'PATRONI_FAILED',
    class: PatroniError,
    retryable: true,
    http: 500,
    meaning: "Patroni's REST API refused or failed a request; carries its status and answer",
  },
  {
    code: 'PGBOUNCER_FAILED',
    class: PgBouncerError,
    retryable: true,
    http: 500,
    meaning: 'a PgBouncer admin command failed or timed out (a PAUSE that timed out was undone)',
  },
  {
    code: 'DISK_FULL',
    class: DestinationFullError,
    retryable: false,
    http: null,
    meaning:
      'a restore destination or scratch directory ran out of space; names it; the partial data is removed and the backup is not blamed',
    hint: 'free space there or choose another directory; the backup itself is not at fault',
  },
  {
    code: 'ENCRYPTION_KEY_UNAVAILABLE',
    class: EncryptionKeyError,
    retryable: false,
    http: 500,
    meaning:
      'an age-encrypted object could not be decrypted on this worker: no identity configured, its secret not readable here, or none matching; names the object',
    hint: "give this worker the cluster's age identity (clusters.{cluster}.encryption.identities: a secret ref holding AGE-SECRET-KEY-1...), and keep the identities of retired keys listed while their objects remain",
  },
  {
    code: 'OBJECT_LOCK_UNAVAILABLE',
    class: ObjectLockUnavailableError,
    retryable: false,
    http: 500,
    meaning:
      '`storage.objectLock` is set but the bucket has no Object Lock enabled; names the bucket, the setting and what the bucket said',
    hint: 'create the bucket with Object Lock (aws s3api create-bucket --object-lock-enabled-for-bucket; mc mb --with-lock), or on AWS enable it on a versioned bucket (put-object-lock-configuration); else remove storage.objectLock',
  },
  {
    code: 'REPOSITORY_NOT_CONFIGURED',
    class: RepositoryNotConfiguredError,
    retryable: false,
    http: 422,
    meaning: 'a request or a procedure named `repository: secondary`, but `storage.secondary` is not in the config',
    hint: 'ask for repository "primary" (or "auto"), or configure storage.secondary and restart the worker and API',
  },
  {
    code: 'COPY_CORRUPT',
    class: CopyCorruptError,
    retryable: false,
    http: null,
    meaning:
      "a copy's verification found objects on the secondary whose sha256 differs from the copied bytes, or that are missing; names each by its s3:// URL (pgbackrest method: pgbackrest verify's invalid files in repo2)",
    hint: "the primary still holds the good bytes: delete the named objects on the secondary (and the backup's manifest.json there), then run `pgdr copy <cluster>` to copy them again. pgbackrest method: take a new full backup (it goes to both repositories); a damaged WAL segment in repo2 leaves a gap there only",
  },
  {
    code: 'STORAGE_UNAVAILABLE',
    class: StorageUnavailableError,
    retryable: true,
    http: null,
    meaning: 'S3 stayed unreachable for longer than `storage.outageWaitSeconds`; names the endpoint and the last error',
    hint: 'check that the S3 endpoint is up and reachable from the worker; raise storage.outageWaitSeconds to ride out longer outages',
  },
];

/** The row of an error class; a class without one is a bug, said loudly. */
export function errorRow(cls: abstract new (...args: never[]) => PgdrError): ErrorRow {
  const row = errorTable.find((r) => r.class === cls);
  if (!row) throw new Error(`${cls.name} has no row in the error table (domain/errors.ts errorTable)`);
  return row;
}

/** The row of an error code, if pgdr has one. */
export function errorRowOfCode(code: string): ErrorRow | undefined {
  return errorTable.find((r) => r.code === code);
}

/** A hint's `{name}`s filled from the error's context; a name the context lacks stays as written. */
function fillHint(hint: string, context: ErrorContext): string {
  return hint.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = context[name];
    return value === undefined || value === null ? whole : String(value);
  });
}

/** Names of the error types that must never be retried, for activity option profiles. */
export const nonRetryableErrorTypes: string[] = errorTable.filter((r) => !r.retryable).map((r) => r.class.name);

/** True when a tool's stderr says the disk (or quota) is full. */
export function saysDiskFull(stderr: unknown): boolean {
  return /No space left on device|Disk quota exceeded/i.test(String(stderr));
}

/** The stderr line that says so (for the message). */
export function diskFullLine(stderr: unknown): string {
  return (
    String(stderr)
      .split('\n')
      .find((l) => saysDiskFull(l))
      ?.trim() ?? 'no space left on device'
  );
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
