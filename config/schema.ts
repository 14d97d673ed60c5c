/**
 * The one pgdr config schema. pgdr.yaml goes raw -> defaults -> validated, once, at start.
 * Secrets never appear in the file: a secret is a reference to an environment variable or
 * to a file readable by the worker, resolved by activities at the moment of use.
 */
import { z } from 'zod';
import { normalPath, overlaps, pathProblem } from '../domain/paths.js';
import { durationSeconds } from '../domain/drill.js';
import { NAME_FORM, NAME_PATTERN, nodeTaskQueue } from '../domain/naming.js';
import { lockShortfall } from '../domain/objectLock.js';
import { SERVER_MANAGER_FORM, SERVER_MANAGER_PATTERN } from '../domain/serverManager.js';

const identifier = z.string().regex(NAME_PATTERN, `expected a lowercase name: ${NAME_FORM}`);

/** Every path in the config or a request: the safe character set, absolute, one spelling (domain/paths.ts). */
export const absolutePath = z.string().superRefine((value, ctx) => {
  const problem = pathProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const port = z.number().int().min(1).max(65535);

/** An http(s) URL without credentials in it: keys and passwords are secret refs, never part of a URL (which is logged and shown). */
const httpUrl = z
  .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
  .refine(noCredentials, 'expected a URL without user:password@ (credentials belong in secret refs)');

/** False for a URL with a user or password in it (one that does not parse is z.url's to report). */
function noCredentials(u: string): boolean {
  try {
    const url = new URL(u);
    return url.username === '' && url.password === '';
  } catch {
    return true;
  }
}

export const secretRef = z
  .union(
    [
      z
        .object({
          env: z
            .string()
            .regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name')
            .describe('environment variable that holds the secret'),
        })
        .strict(),
      z.object({ file: absolutePath.describe('file (mode 0600) that holds the secret; surrounding whitespace is trimmed') }).strict(),
    ],
    { error: 'expected a secret reference {env: NAME} or {file: /path}, never the secret itself' },
  )
  .describe('where the worker finds a secret: {env: NAME} or {file: /path}; the secret itself never goes in the config');
export type SecretRef = z.infer<typeof secretRef>;

export const nodeSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').describe('address pgdr uses for SQL and replication connections'),
    port: port.default(5432).describe('Postgres port'),
    socketDir: absolutePath
      .optional()
      .describe(
        "the server's unix socket directory (one of its unix_socket_directories). When set, the node's agent streams backups over it instead of TCP: no TLS to encrypt and decrypt on the node's host, about 0.3-0.45 s of CPU per GB streamed. pg_hba.conf then needs a `local replication <user>` line (scram-sha-256, or peer when osUser is the cluster's user)",
      ),
    dataDir: absolutePath.describe("the data directory (PGDATA) on the node's host"),
    binDir: absolutePath.default('/usr/lib/postgresql/15/bin').describe('directory with postgres, pg_ctl, pg_basebackup and friends'),
    osUser: z.string().min(1).default('postgres').describe('OS user that owns the data directory and runs Postgres tools'),
    manager: z
      .string()
      .regex(SERVER_MANAGER_PATTERN, SERVER_MANAGER_FORM)
      .default('pg_ctl')
      .describe(
        "how the node's own server starts and stops: pg_ctl on dataDir; pg_ctlcluster <version> <name> (Debian's postgresql-common: configuration in /etc/postgresql/<version>/<name>); or systemctl <unit> (untested)",
      ),
    agentQueue: z.string().min(1).optional().describe('task queue of the node agent; default pgdr-node-<cluster>-<node>'),
    slot: z
      .string()
      .regex(/^[a-z0-9_]{1,63}$/, 'expected a replication slot name: 1-63 lowercase letters, digits or "_"')
      .optional()
      .describe('physical replication slot this node streams from when it is a standby; default pgdr_<node> ("-" becomes "_")'),
    patroniUrl: httpUrl.optional().describe('Patroni REST API of this node, e.g. http://10.0.0.5:8008 (Patroni-managed clusters)'),
    healthPort: port
      .optional()
      .describe(
        "the node agent serves GET /primary, /replica and /health on host:healthPort (200 or 503 from the server's live state), for HAProxy's option httpchk; absent: not served",
      ),
    sslRootCert: absolutePath.optional().describe("connections to this node: the cluster's sslRootCert, overridden"),
    sslCert: secretRef.optional().describe("connections to this node: the cluster's sslCert, overridden"),
    sslKey: secretRef.optional().describe("connections to this node: the cluster's sslKey, overridden"),
  })
  .strict()
  .describe('one Postgres server of the cluster');

const cronField = /^[0-9A-Za-z*,/?-]+$/;
const cron = z.string().refine((c) => {
  const f = c.trim().split(/\s+/);
  return f.length === 5 && f.every((x) => cronField.test(x));
}, 'expected a 5-field cron expression like "0 1 * * 0" (minute hour day-of-month month day-of-week)');

const duration = z.string().regex(/^\d+(s|m|h|d)$/, 'expected a duration like "90s", "30m", "6h" or "2d"');

export const scheduleSchema = z
  .object({
    type: z.enum(['full', 'diff', 'incr']).describe('backup type the schedule takes'),
    cron: cron.describe("when, as 5-field cron in the cluster's schedule time zone"),
  })
  .strict()
  .describe('one backup schedule');

export const backupSchema = z
  .object({
    from: z
      .enum(['primary', 'standby'])
      .default('primary')
      .describe('take backups from the primary, or from a streaming standby to spare the primary'),
    compression: z
      .enum(['zstd', 'lz4', 'gzip', 'none'])
      .default('zstd')
      .describe('compression of the basebackup stream (pg_basebackup --compress=client-<method>)'),
    compressionLevel: z.number().int().min(1).max(19).optional().describe("compression level; default: the method's own"),
    checkpoint: z
      .enum(['fast', 'spread'])
      .default('spread')
      .describe('checkpoint mode at backup start: spread (gentle, like pg_basebackup) or fast'),
    maxRateKBps: z.number().int().min(32).max(1048576).optional().describe('cap the read rate of pg_basebackup, in kB/s (--max-rate)'),
    verify: z
      .boolean()
      .default(true)
      .describe('verify every backup right after it is stored (pg_verifybackup on the stored object, or pgbackrest verify)'),
    scratchDir: absolutePath
      .default('/var/tmp/pgdr')
      .describe('directory on the node for verification scratch space (needs room for one extracted backup)'),
    schedules: z
      .record(identifier, scheduleSchema)
      .default({ full: { type: 'full', cron: '0 1 * * 0' }, diff: { type: 'diff', cron: '0 1 * * 1-6' } })
      .refine(
        (s) => !('wal-archive-check' in s) && !('restore-drill' in s) && !('copy-to-secondary' in s),
        'expected another schedule name: "wal-archive-check", "restore-drill" and "copy-to-secondary" belong to archive.checkCron, drill.cron and storage.secondary.copyCron',
      )
      .describe('Temporal Schedules by name; reconciled at worker start (created, updated, deleted to match)'),
    timezone: z.string().min(1).default('UTC').describe('IANA time zone of the cron expressions'),
    catchupWindow: duration.default('1h').describe('how late a missed scheduled backup may still start (e.g. after Temporal was down)'),
  })
  .strict()
  .describe('how backups are taken and scheduled');

/** An age X25519 recipient (a public key), as `age-keygen -y` prints it. */
export const AGE_RECIPIENT_PATTERN = /^age1[02-9ac-hj-np-z]{58}$/;

export const encryptionSchema = z
  .object({
    recipients: z
      .array(
        z
          .string()
          .regex(
            AGE_RECIPIENT_PATTERN,
            'expected an age public key: "age1" and 58 lowercase bech32 characters, as age-keygen -y prints it (never the AGE-SECRET-KEY-1 identity)',
          ),
      )
      .max(32)
      .default([])
      .describe(
        'basebackup method: age recipients (public keys) every new base archive, backup_manifest and WAL/.history object is encrypted to; empty: objects are stored unencrypted. Rotate by adding the new key (and later removing the old one)',
      ),
    identities: z
      .array(secretRef)
      .max(32)
      .default([])
      .describe(
        'basebackup method: secret refs of age identities (AGE-SECRET-KEY-1..., one or more per secret), tried in turn to decrypt; needed only where a restore, drill, verification or WAL fetch/check runs. Keep the identity of every key objects were encrypted to',
      ),
    passphrase: secretRef
      .optional()
      .describe(
        'pgbackrest method: repo passphrase; sets repo-cipher-type=aes-256-cbc, passed as PGBACKREST_REPO1_CIPHER_PASS (never in the conf or argv). Set it before the stanza is created: an existing repo keeps its cipher',
      ),
  })
  .strict()
  .describe('client-side encryption at rest: age (basebackup method) or pgBackRest aes-256-cbc (pgbackrest method)');

export const retentionSchema = z
  .object({
    fullCount: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(2)
      .describe('keep this many newest good full backups, with their diff/incr dependents'),
    recoveryWindowDays: z
      .number()
      .int()
      .min(0)
      .max(3650)
      .optional()
      .describe('also keep whatever is needed to restore to any point in the last N days'),
    minWindow: duration
      .default('7d')
      .refine((d) => durationSeconds(d) <= 3650 * 86_400, 'expected a duration of at most 3650d')
      .describe(
        'never expire a backup unless a newer kept full stopped at least this long ago, so a burst of backups cannot shrink the recovery window below it ("0s": no minimum)',
      ),
  })
  .strict()
  .describe('what expireBackups keeps; it never deletes the newest good backup');

export const archiveSchema = z
  .object({
    compression: z
      .enum(['zstd', 'gzip', 'none'])
      .default('zstd')
      .describe('compression of archived WAL objects (`pgdr wal push`); history files are compressed alike'),
    compressionLevel: z.number().int().min(1).max(19).default(3).describe('compression level for zstd (1-19) or gzip (1-9)'),
    pgdrCommand: absolutePath
      .optional()
      .describe("path of the `pgdr` launcher on the database hosts, used in archive_command; default: this installation's bin/pgdr"),
    configPath: absolutePath
      .optional()
      .describe("path of pgdr.yaml on the database hosts, used in archive_command; default: the worker's own config path"),
    checkCron: cron
      .nullable()
      .default('*/5 * * * *')
      .describe('when walArchiveCheck runs (a Temporal Schedule, in the backup time zone); null: no scheduled check'),
    roundTripTimeoutSeconds: z
      .number()
      .int()
      .min(5)
      .max(3600)
      .default(60)
      .describe('how long the check waits for a forced segment switch to appear in S3'),
    maxLagSegments: z
      .number()
      .int()
      .min(0)
      .max(10000)
      .default(2)
      .describe('archive lag (whole segments written but not yet in S3) above which the check fails'),
    parallel: z
      .number()
      .int()
      .min(1)
      .max(32)
      .default(4)
      .describe(
        "WAL segments moved at once: uploads of the node agent's archiver (basebackup method; on as many pusher threads, one per core at most), or pgBackRest's asynchronous archive-push and archive-get processes (process-max, pgbackrest method)",
      ),
    agent: z
      .object({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            "basebackup method: archive_command is the thin client bin/pgdr-archive, which asks the node agent's archiver whether the segment is in storage (the agent pushes ready segments ahead, in parallel) and pushes directly itself when no agent answers; false: archive_command is `pgdr wal push`",
          ),
        stateDir: absolutePath
          .default('/run/pgdr-archiver')
          .describe(
            "directory on each database host where the agent and archive_command meet (heartbeat, requests, durable markers); readable and writable by the nodes' OS user",
          ),
        waitSeconds: z
          .number()
          .int()
          .min(5)
          .max(3600)
          .default(20)
          .describe(
            "how long archive_command waits on a live agent before it pushes the segment itself (saying the agent's last error); a healthy agent answers in well under a second",
          ),
      })
      .strict()
      .prefault({})
      .describe("the node agent's archiver, which archive_command asks (basebackup method)"),
    maxArchiveAgeMinutes: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .default(30)
      .describe('age of the last archived segment above which the check fails while WAL is waiting to be archived'),
  })
  .strict()
  .describe('WAL archiving to S3 and the walArchiveCheck that watches it');

/** The restore port range when the config names none (moved above node ports inside it). */
export const RESTORE_PORTS = { from: 55432, to: 55999 } as const;

/**
 * The restore port range of a cluster: as configured, else the default one, which starts just
 * above the highest node port that falls inside it, so that it never includes a node's port.
 */
export function restorePortRange(
  restore: { portFrom?: number | undefined; portTo?: number | undefined },
  nodePorts: number[],
): { portFrom: number; portTo: number } {
  const width = RESTORE_PORTS.to - RESTORE_PORTS.from;
  let from = restore.portFrom;
  if (from === undefined) {
    from = RESTORE_PORTS.from;
    const inside = nodePorts.filter((p) => p >= RESTORE_PORTS.from && p <= RESTORE_PORTS.to);
    if (restore.portTo === undefined && inside.length > 0) from = Math.min(Math.max(...inside) + 1, 65535);
  }
  const to =
    restore.portTo ??
    (from <= RESTORE_PORTS.from || (restore.portFrom !== undefined && from <= RESTORE_PORTS.to)
      ? RESTORE_PORTS.to
      : Math.min(from + width, 65535));
  return { portFrom: from, portTo: to };
}

export const restoreSchema = z
  .object({
    node: identifier.optional().describe('node whose host receives restores by default; default: the first node listed'),
    prefetch: z
      .boolean()
      .default(true)
      .describe(
        "basebackup method: a restored copy (PITR, drill) and a standby rebuilt from a backup replay from a spool the node agent's prefetcher fills ahead of them, archive.parallel segments at a time (restore_command is bin/pgdr-restore, with `pgdr wal fetch` behind it); false: restore_command is `pgdr wal fetch`",
      ),
    dir: absolutePath
      .default('/var/lib/pgdr/restores')
      .describe('parent directory for new restore data directories (<dir>/<cluster>-<restoreId>) on that host'),
    allowedRoots: z
      .array(absolutePath)
      .max(32)
      .default([])
      .describe(
        'further directories (besides restore.dir) that restores may create data directories in; pgdr never creates, replaces or removes a restore destination outside these roots',
      ),
    portFrom: port
      .optional()
      .describe(
        `lowest port a restored instance may be given (the first one free and not claimed by another restore is taken); the range may not include a node's port; default ${RESTORE_PORTS.from}, or just above the cluster's node ports when they fall in ${RESTORE_PORTS.from}-${RESTORE_PORTS.to}`,
      ),
    portTo: port
      .optional()
      .describe(
        `highest port a restored instance may be given; default ${RESTORE_PORTS.to}, or portFrom + ${RESTORE_PORTS.to - RESTORE_PORTS.from} (at most 65535) when the range starts above that`,
      ),
    recoveryTimeoutMinutes: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .default(1440)
      .describe('how long replay may take to reach the target before the restore fails'),
  })
  .strict()
  .refine((r) => r.portFrom === undefined || r.portTo === undefined || r.portFrom <= r.portTo, {
    path: ['portTo'],
    message: 'expected portTo >= portFrom',
  })
  .describe('where point-in-time restores go by default, and how long they may take');

export const assertionSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 _.:-]{0,59}$/, 'expected a name of 1-60 letters, digits, spaces, "_", ".", ":" or "-"')
      .describe('what the assertion is called in reports'),
    database: z.string().min(1).optional().describe("database to run it in; default: the cluster's database"),
    sql: z.string().min(1).max(10000).describe('a query; its first column of the first row is the actual value'),
    expect: z
      .string()
      .regex(
        /^((>|>=|=|!=|<|<=) \S.*|fresh within \d+(s|m|h|d))$/,
        'expected "> 0", ">= 10", "= <value>", "!= <value>", "< n", "<= n" or "fresh within <n>(s|m|h|d)"',
      )
      .describe('the expectation: a comparison, or "fresh within 30m" on a timestamp'),
  })
  .strict()
  .describe('one SQL assertion a restore drill runs against the restored copy');

export const drillSchema = z
  .object({
    cron: cron.nullable().default('0 3 1 * *').describe('when the restoreDrill schedule runs (backup time zone); null: on demand only'),
    node: identifier.optional().describe('node whose host runs the scratch instance; default restore.node, then the first node'),
    target: z
      .enum(['latest', 'immediate'])
      .default('latest')
      .describe("recover to the newest archived commit, or only to the backup's consistency point"),
    includeOlderBackup: z
      .boolean()
      .default(true)
      .describe(
        'also drill the oldest good backup not proven within proofWindowDays (each drill proves another, until every backup is proven)',
      ),
    proofWindowDays: z
      .number()
      .int()
      .min(1)
      .max(366)
      .default(31)
      .describe('a backup counts as proven for this many days after a drill restored it and passed every check'),
    largestTables: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(5)
      .describe('compare row counts of this many largest tables with the source (where the pgdr role may read them)'),
    assertions: z.array(assertionSchema).max(100).default([]).describe('SQL assertions that must hold on the restored copy'),
  })
  .strict()
  .describe('monthly restore-verification drills: restore into a scratch instance, check, measure RTO/RPO, tear down');

export const replicationSchema = z
  .object({
    user: z.string().min(1).optional().describe("role standbys stream as (primary_conninfo user); default the cluster's user"),
    passfile: absolutePath
      .optional()
      .describe(
        "libpq password file on every node host, readable by the node's OS user, named in primary_conninfo; pgdr never writes a password into the server config",
      ),
    rebuildMaxLagBytes: z
      .number()
      .int()
      .min(0)
      .default(16 * 1024 * 1024)
      .describe('a rebuilt standby is done once it streams with replay lag at or below this'),
    catchUpTimeoutMinutes: z
      .number()
      .int()
      .min(1)
      .max(100000)
      .default(120)
      .describe('how long a rebuilt or rejoined standby may take to stream and catch up'),
  })
  .strict()
  .describe('streaming replication: how standbys connect, and when a rebuilt one counts as caught up');

export const switchoverSchema = z
  .object({
    maxLagBytes: z
      .number()
      .int()
      .min(0)
      .default(16 * 1024 * 1024)
      .describe('refuse a candidate whose replay lag exceeds this (a request may lower or raise it)'),
    confirmTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(30)
      .describe("how long the candidate may take to replay the stopped primary's shutdown checkpoint before the switchover rolls back"),
    pauseTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(3600)
      .default(15)
      .describe("how long PgBouncer's PAUSE may wait for running transactions before the switchover gives up (nothing changed yet)"),
    backupAfter: z.boolean().default(true).describe('start a full backup of the new primary once the switchover is done'),
  })
  .strict()
  .describe("planned switchover: the candidate's lag guard, the fencing timeouts, the backup afterwards");

export const pgbouncerSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').describe("address of PgBouncer's listener"),
    port: port.default(6432).describe('PgBouncer port'),
    adminUser: z.string().min(1).default('pgdr').describe("a user in PgBouncer's admin_users (PAUSE, RESUME, RELOAD)"),
    password: secretRef.optional().describe("that user's password; default the cluster's password"),
    node: identifier.describe("node whose agent runs on PgBouncer's host and rewrites databasesFile"),
    databasesFile: absolutePath.describe(
      "file %include-d in PgBouncer's [databases] section; pgdr owns it and rewrites it to `* = host=<primary> port=<port>` on switchover",
    ),
  })
  .strict()
  .describe('a PgBouncer in front of the cluster: paused during a switchover and repointed to the new primary');

export const patroniSchema = z
  .object({
    username: z.string().min(1).optional().describe("user of Patroni's restapi.authentication (for POST /switchover and /reinitialize)"),
    password: secretRef.optional().describe('its password'),
    timeoutSeconds: z
      .number()
      .int()
      .min(5)
      .max(3600)
      .default(120)
      .describe('how long pgdr waits for Patroni to finish a switchover or reinitialize'),
  })
  .strict()
  .describe('the cluster is managed by Patroni: switchover and rebuild go through its REST API (nodes need patroniUrl)');

export const clusterSchema = z
  .object({
    method: z
      .enum(['basebackup', 'pgbackrest'])
      .default('basebackup')
      .describe(
        'backup tool: pg_basebackup streamed to S3 (every backup a full), or pgBackRest with its repo in the same bucket (full, diff, incr)',
      ),
    backup: backupSchema.prefault({}),
    encryption: encryptionSchema.prefault({}),
    retention: retentionSchema.prefault({}),
    archive: archiveSchema.prefault({}),
    restore: restoreSchema.prefault({}),
    drill: drillSchema.prefault({}),
    replication: replicationSchema.prefault({}),
    switchover: switchoverSchema.prefault({}),
    pgbouncer: pgbouncerSchema.optional(),
    patroni: patroniSchema.optional(),
    database: z.string().min(1).default('postgres').describe('database pgdr connects to for checks'),
    user: z.string().min(1).default('pgdr').describe('Postgres role pgdr connects as (see README for its privileges)'),
    password: secretRef.optional().describe('password of that role; omit for trust/peer or a pgpass file the worker already has'),
    sslmode: z
      .enum(['disable', 'require', 'verify-ca', 'verify-full'])
      .default('verify-full')
      .describe("TLS for pgdr's SQL connections: disable, require (encrypted, unverified), verify-ca, verify-full (CA and host name)"),
    sslRootCert: absolutePath
      .optional()
      .describe(
        "PEM CA file that signs the servers' certificates, required by verify-ca / verify-full; a path (not a secret) readable by every host that connects: the control host and each node host (standbys name it in primary_conninfo)",
      ),
    sslCert: secretRef
      .optional()
      .describe(
        'client certificate (PEM) pgdr and the standbys present; with sslKey. In a cluster of several nodes a {file} on every node host (primary_conninfo names it)',
      ),
    sslKey: secretRef
      .optional()
      .describe(
        "private key of sslCert (PEM). In a cluster of several nodes a {file} on every node host, mode 0600 and owned by the node's osUser (primary_conninfo names it); pgdr's tools get a private copy",
      ),
    connectTimeoutSeconds: z.number().int().min(1).max(300).default(5).describe('connect timeout for every SQL connection'),
    nodes: z
      .record(identifier, nodeSchema)
      .refine((n) => Object.keys(n).length >= 1, 'expected at least one node')
      .describe("the cluster's Postgres servers by name"),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.drill.node !== undefined && !(c.drill.node in c.nodes)) {
      ctx.addIssue({
        code: 'custom',
        path: ['drill', 'node'],
        message: `expected one of the cluster's nodes (${Object.keys(c.nodes).join(', ')}), got "${c.drill.node}"`,
      });
    }
    if (c.restore.node !== undefined && !(c.restore.node in c.nodes)) {
      ctx.addIssue({
        code: 'custom',
        path: ['restore', 'node'],
        message: `expected one of the cluster's nodes (${Object.keys(c.nodes).join(', ')}), got "${c.restore.node}"`,
      });
    }
    if (c.pgbouncer && !(c.pgbouncer.node in c.nodes)) {
      ctx.addIssue({
        code: 'custom',
        path: ['pgbouncer', 'node'],
        message: `expected one of the cluster's nodes (${Object.keys(c.nodes).join(', ')}), got "${c.pgbouncer.node}"`,
      });
    }
    if (c.patroni) {
      for (const [name, n] of Object.entries(c.nodes)) {
        if (!n.patroniUrl)
          ctx.addIssue({
            code: 'custom',
            path: ['nodes', name, 'patroniUrl'],
            message: "expected the node's Patroni REST URL (the cluster has a patroni section)",
          });
      }
    }
    for (const issue of tlsIssues(c)) ctx.addIssue({ code: 'custom', ...issue });
    const slots = Object.entries(c.nodes).map(([name, n]) => n.slot ?? defaultSlotName(name));
    const dup = slots.find((s, i) => slots.indexOf(s) !== i);
    if (dup)
      ctx.addIssue({
        code: 'custom',
        path: ['nodes'],
        message: `expected a replication slot name per node, got "${dup}" twice (set nodes.<node>.slot)`,
      });
    // pgdr's own ground: the restore roots never overlap a node's data directory (textual here;
    // agents compare canonical paths again on the host).
    for (const [field, root] of [['dir', c.restore.dir], ...c.restore.allowedRoots.map((r, i) => [`allowedRoots.${i}`, r])] as [
      string,
      string,
    ][]) {
      for (const [name, n] of Object.entries(c.nodes)) {
        if (overlaps(normalPath(root), normalPath(n.dataDir))) {
          ctx.addIssue({
            code: 'custom',
            path: ['restore', ...field.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p))],
            message: `expected a directory apart from node ${name}'s data directory ${n.dataDir}`,
          });
        }
      }
    }
    if (c.method === 'pgbackrest' && c.backup.from === 'standby') {
      ctx.addIssue({
        code: 'custom',
        path: ['backup', 'from'],
        message: 'expected "primary": the pgbackrest method backs up from the primary only (got "standby")',
      });
    }
    if (c.method === 'pgbackrest' && c.encryption.recipients.length)
      ctx.addIssue({
        code: 'custom',
        path: ['encryption', 'recipients'],
        message: 'expected no age recipients for the pgbackrest method: pgBackRest encrypts its repo itself (set encryption.passphrase)',
      });
    if (c.method === 'basebackup' && c.encryption.passphrase)
      ctx.addIssue({
        code: 'custom',
        path: ['encryption', 'passphrase'],
        message:
          'expected no passphrase for the basebackup method: it encrypts with age (set encryption.recipients and encryption.identities)',
      });
    // A restored instance on a node's port would take that node's place (status, clients).
    const range = restorePortRange(
      c.restore,
      Object.values(c.nodes).map((n) => n.port),
    );
    for (const [name, n] of Object.entries(c.nodes)) {
      if (n.port >= range.portFrom && n.port <= range.portTo) {
        const field = c.restore.portFrom !== undefined ? 'portFrom' : 'portTo';
        ctx.addIssue({
          code: 'custom',
          path: ['restore', field],
          message: `expected a restore port range without the cluster's node ports: restore.portFrom..portTo is ${range.portFrom}-${range.portTo}, which includes nodes.${name}.port ${n.port}`,
        });
      }
    }
  })
  // The restore range's defaults depend on the node ports, so they are filled in here.
  .transform((c) => ({
    ...c,
    restore: {
      ...c.restore,
      ...restorePortRange(
        c.restore,
        Object.values(c.nodes).map((n) => n.port),
      ),
    },
  }))
  .describe('one Postgres cluster: a primary and its standbys');

type TlsField = 'sslRootCert' | 'sslCert' | 'sslKey';

/**
 * Postgres TLS settings that cannot work together, per node (a node's own field overrides the
 * cluster's): each issue's path is where the offending value is, or where the missing one goes.
 */
function tlsIssues(c: {
  sslmode: string;
  sslRootCert?: string | undefined;
  sslCert?: SecretRef | undefined;
  sslKey?: SecretRef | undefined;
  nodes: Record<string, { sslRootCert?: string | undefined; sslCert?: SecretRef | undefined; sslKey?: SecretRef | undefined }>;
}): { path: (string | number)[]; message: string }[] {
  const issues = new Map<string, { path: (string | number)[]; message: string }>();
  const add = (path: string[], message: string) => issues.set(path.join('.'), { path, message });
  const several = Object.keys(c.nodes).length > 1;
  for (const [name, n] of Object.entries(c.nodes)) {
    const at = (f: TlsField) => (n[f] !== undefined || c[f] === undefined ? ['nodes', name, f] : [f]);
    const has = (f: TlsField) => (n[f] ?? c[f]) !== undefined;
    // Where a missing field belongs: with the node when the node overrides its partner, else the cluster.
    const missingAt = (f: TlsField, partner: TlsField) => (n[partner] !== undefined ? ['nodes', name, f] : [f]);
    if (has('sslCert') && !has('sslKey')) add(missingAt('sslKey', 'sslCert'), 'expected the private key of sslCert too (got none)');
    if (has('sslKey') && !has('sslCert')) add(missingAt('sslCert', 'sslKey'), 'expected the certificate of sslKey too (got none)');
    if (c.sslmode === 'disable') {
      for (const f of ['sslRootCert', 'sslCert', 'sslKey'] as const)
        if (has(f)) add(at(f), `expected sslmode require, verify-ca or verify-full with ${f} (sslmode is "disable")`);
    } else if (c.sslmode === 'require' && has('sslRootCert')) {
      add(
        at('sslRootCert'),
        'expected sslmode verify-ca or verify-full with sslRootCert (got sslmode "require"): libpq tools verify the CA whenever a root certificate is given, node-postgres would not',
      );
    } else if (c.sslmode.startsWith('verify-') && !has('sslRootCert')) {
      add(
        missingAt('sslRootCert', 'sslRootCert'),
        `expected sslRootCert, the PEM CA file that signs the servers' certificates, with sslmode "${c.sslmode}" (got none); or sslmode require / disable`,
      );
    }
    if (several) {
      for (const f of ['sslCert', 'sslKey'] as const) {
        const ref = n[f] ?? c[f];
        if (ref && 'env' in ref)
          add(
            at(f),
            `expected a {file: /path} reference in a cluster of several nodes, at one path on every node host and the control host: standbys name the file in primary_conninfo (got {env: ${ref.env}})`,
          );
      }
    }
  }
  return [...issues.values()];
}

/** The slot a node streams from when it has no `slot` of its own. */
export const temporalTlsSchema = z
  .object({
    enabled: z
      .boolean()
      .optional()
      .describe('false turns TLS off; default on whenever temporal.tls or temporal.apiKey is set (env: TEMPORAL_TLS)'),
    serverCaFile: absolutePath
      .optional()
      .describe("PEM CA bundle to verify the frontend's certificate; default the system's roots (env: TEMPORAL_TLS_SERVER_CA_CERT_PATH)"),
    serverName: z
      .string()
      .regex(/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'expected a DNS name')
      .optional()
      .describe(
        "name the frontend's certificate must carry (and SNI); default the host of temporal.address (env: TEMPORAL_TLS_SERVER_NAME)",
      ),
    clientCert: secretRef
      .optional()
      .describe('mTLS client certificate (PEM); needs clientKey (env: TEMPORAL_TLS_CLIENT_CERT_PATH or _DATA)'),
    clientKey: secretRef
      .optional()
      .describe('mTLS client private key (PEM); needs clientCert (env: TEMPORAL_TLS_CLIENT_KEY_PATH or _DATA)'),
  })
  .strict();

/** The combinations of temporal.tls and temporal.apiKey that cannot work, each naming its field. */
export function temporalTlsProblems(t: {
  tls?: z.infer<typeof temporalTlsSchema> | undefined;
  apiKey?: SecretRef | undefined;
}): { path: string[]; message: string }[] {
  const tls = t.tls;
  const problems: { path: string[]; message: string }[] = [];
  if (tls?.clientCert && !tls.clientKey)
    problems.push({ path: ['tls', 'clientKey'], message: 'expected the private key of tls.clientCert, got none (set both or neither)' });
  if (tls?.clientKey && !tls.clientCert)
    problems.push({ path: ['tls', 'clientCert'], message: 'expected the certificate of tls.clientKey, got none (set both or neither)' });
  if (tls?.enabled === false) {
    if (t.apiKey)
      problems.push({
        path: ['apiKey'],
        message: 'expected TLS with an API key (it would cross the network in clear text), got tls.enabled: false',
      });
    const set = (['serverCaFile', 'serverName', 'clientCert', 'clientKey'] as const).filter((k) => tls[k] !== undefined);
    if (set.length)
      problems.push({
        path: ['tls', 'enabled'],
        message: `expected TLS on when ${set.map((k) => `tls.${k}`).join(', ')} ${set.length > 1 ? 'are' : 'is'} set, got false`,
      });
  }
  return problems;
}

/** True when pgdr talks TLS to Temporal: tls.enabled, else any TLS setting or an API key. */
export function temporalUsesTls(t: { tls?: { enabled?: boolean | undefined } | undefined; apiKey?: unknown }): boolean {
  return t.tls?.enabled ?? (t.tls !== undefined || t.apiKey !== undefined);
}

export function defaultSlotName(node: string): string {
  return `pgdr_${node.replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

/** The fields of one S3 repository: the primary (`storage`) and the offsite copy (`storage.secondary`). */
const storageLocationFields = {
  endpoint: httpUrl
    .optional()
    .describe('S3 endpoint URL, e.g. https://minio.example:9000; leave it out for AWS S3 (the regional endpoint of `region`)'),
  region: z
    .string()
    .min(1)
    .optional()
    .describe("S3 region; required without an endpoint (the bucket's AWS region), else defaults to us-east-1"),
  bucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 chars, lowercase, digits, "." or "-")')
    .describe('bucket for backups, WAL and reports'),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'expected a key prefix like "pgdr" or "prod/pgdr" (no leading or trailing "/")')
    .default('pgdr')
    .describe('key prefix under which every cluster lives'),
  forcePathStyle: z
    .boolean()
    .optional()
    .describe(
      'path-style addressing; defaults to true with an endpoint (MinIO and most S3-compatible stores need it), ' +
        'false without one (AWS S3: virtual-hosted style)',
    ),
  caFile: absolutePath.optional().describe("PEM CA bundle to verify the endpoint's TLS certificate"),
  insecureSkipTlsVerify: z.boolean().default(false).describe('turn TLS verification off; explicit opt-in, never for production'),
  accessKeyId: secretRef
    .optional()
    .describe(
      "S3 access key id; set both keys or neither (then the AWS SDK's default credential chain: env, web identity, SSO, instance role)",
    ),
  secretAccessKey: secretRef.optional().describe('S3 secret access key; set both keys or neither'),
  serverSideEncryption: z
    .enum(['none', 'aes256', 'kms'])
    .default('none')
    .describe('server-side encryption of every object pgdr and pgBackRest write: none, aes256 (SSE-S3) or kms (SSE-KMS)'),
  kmsKeyId: z
    .string()
    .min(1)
    .optional()
    .describe("KMS key (id, ARN or alias) for serverSideEncryption kms; without it S3 uses the account's aws/s3 key"),
  outageWaitSeconds: z
    .number()
    .int()
    .min(0)
    .max(3600)
    .default(300)
    .describe('how long a backup upload waits, heartbeating, for unreachable storage to come back before its attempt fails'),
  idleTimeoutSeconds: z
    .number()
    .int()
    .min(5)
    .max(3600)
    .default(120)
    .describe(
      'an S3 request whose connection moves no byte either way this long fails (and is retried): storage behind a partition that drops packets answers nothing, and a request without this would wait forever',
    ),
  objectLock: z
    .object({
      mode: z
        .enum(['governance', 'compliance'])
        .describe(
          'S3 Object Lock mode: governance (a user with s3:BypassGovernanceRetention may still shorten or remove a lock; pgdr never does) or compliance (nobody can, not even the root account)',
        ),
      days: z
        .number()
        .int()
        .min(1)
        .max(36_500)
        .describe(
          "each object stays locked this many days after it is written, plus a one-day margin; at least what each basebackup cluster's retention promises (recoveryWindowDays, minWindow)",
        ),
    })
    .strict()
    .optional()
    .describe(
      'basebackup method: write every base backup object, manifest and WAL/.history object with an S3 Object Lock retain-until date (the bucket must have Object Lock enabled); expiry skips what is still locked. Unset: no locks',
    ),
};

/** The checks every repository's fields get: both keys or neither, a region without an endpoint, kmsKeyId only with kms. */
function storageLocationProblems(
  s: {
    accessKeyId?: unknown;
    secretAccessKey?: unknown;
    endpoint?: string;
    region?: string;
    kmsKeyId?: string;
    serverSideEncryption: string;
  },
  ctx: z.RefinementCtx,
): void {
  const keys = ['accessKeyId', 'secretAccessKey'] as const;
  for (const [field, other] of [keys, [keys[1], keys[0]]] as const) {
    if (s[field] === undefined && s[other] !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `expected a secret reference beside ${other}: set both keys, or neither to use the AWS default credential chain`,
      });
  }
  if (s.endpoint === undefined && s.region === undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['region'],
      message: "expected the bucket's AWS region (e.g. eu-west-1) when no endpoint is set",
    });
  if (s.kmsKeyId !== undefined && s.serverSideEncryption !== 'kms')
    ctx.addIssue({
      code: 'custom',
      path: ['kmsKeyId'],
      message: `expected no kmsKeyId unless serverSideEncryption is "kms" (it is "${s.serverSideEncryption}")`,
    });
}

/** Path-style and region defaults, once the fields are checked. */
function withStorageDefaults<T extends { endpoint?: string; region?: string; forcePathStyle?: boolean }>(s: T) {
  return { ...s, region: s.region ?? 'us-east-1', forcePathStyle: s.forcePathStyle ?? s.endpoint !== undefined };
}

const secondaryStorageSchema = z
  .object({
    ...storageLocationFields,
    bucket: storageLocationFields.bucket.describe('bucket of the offsite copy (another account, region or provider than the primary)'),
    copyCron: cron
      .nullable()
      .default('17 * * * *')
      .describe(
        "cron of each cluster's copy schedule, which catches up whatever is not yet on the secondary (a copy also runs after each good backup); null: after backups only",
      ),
  })
  .strict()
  .superRefine(storageLocationProblems)
  .transform(withStorageDefaults)
  .describe(
    "a second repository (the offsite copy), read by restores, drills and rebuilds that ask for it (`repository`). basebackup method: each good backup, its manifest and the WAL it needs are copied there and verified. pgbackrest method: it is pgBackRest's repo2; every WAL segment is pushed to both, and each good backup is followed by a backup into it",
  );

export const configSchema = z
  .object({
    temporal: z
      .object({
        address: z
          .string()
          .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')
          .default('127.0.0.1:7233')
          .describe('Temporal frontend address (env: TEMPORAL_ADDRESS)'),
        namespace: z.string().min(1).default('default').describe('Temporal namespace (env: TEMPORAL_NAMESPACE)'),
        taskQueue: z.string().min(1).default('pgdr').describe('task queue of the control worker'),
        uiUrl: httpUrl.default('http://127.0.0.1:8233').describe('Temporal Web UI base URL, for links in API answers'),
        tls: temporalTlsSchema.optional().describe('TLS to the frontend; on when this section or apiKey is set (env: TEMPORAL_TLS)'),
        apiKey: secretRef
          .optional()
          .describe('API key sent as "authorization: Bearer <key>" (Temporal Cloud); needs TLS (env: TEMPORAL_API_KEY)'),
      })
      .strict()
      .superRefine((t, ctx) => {
        for (const issue of temporalTlsProblems(t)) ctx.addIssue({ code: 'custom', ...issue });
      })
      .prefault({})
      .describe('how pgdr reaches Temporal; TEMPORAL_* environment variables override these fields (see README)'),
    storage: z
      .object({ ...storageLocationFields, secondary: secondaryStorageSchema.optional() })
      .strict()
      .superRefine(storageLocationProblems)
      .transform(withStorageDefaults)
      .describe('S3-compatible storage for backups, WAL and reports'),
    api: z
      .object({
        host: z.string().min(1).default('127.0.0.1').describe('address the HTTP API listens on'),
        port: port.default(8484).describe('port the HTTP API listens on'),
        token: secretRef.default({ env: 'PGDR_API_TOKEN' }).describe('bearer token every request except /healthz must carry'),
        bodyLimitBytes: z
          .number()
          .int()
          .min(1024)
          .max(10 * 1024 * 1024)
          .default(64 * 1024)
          .describe('largest accepted request body'),
      })
      .strict()
      .prefault({})
      .describe('the HTTP API'),
    clusters: z
      .record(identifier, clusterSchema)
      .refine((c) => Object.keys(c).length >= 1, 'expected at least one cluster')
      .describe('Postgres clusters pgdr protects, by name'),
  })
  .strict()
  .superRefine((c, ctx) => {
    // One agent, one node: a task queue names exactly one node (two nodes on one queue would
    // let either agent take the other's tasks, and the default names can collide, e.g.
    // cluster "a-b" node "c" and cluster "a" node "b-c"), and never the control queue.
    // pgBackRest 2.45 asks for SSE-KMS with a named key only (repo-s3-kms-key-id); it has no SSE-S3 option.
    // Object Lock: pgdr locks the objects it writes itself; pgBackRest's repository it cannot.
    // Both hold for the secondary too: it is pgBackRest's repo2.
    const pgbackrest = Object.entries(c.clusters).find(([, cc]) => cc.method === 'pgbackrest')?.[0];
    const repos = [
      ['storage', c.storage],
      ...(c.storage.secondary ? ([['storage.secondary', c.storage.secondary]] as const) : []),
    ] as const;
    for (const [field, s] of pgbackrest ? repos : []) {
      const path = field.split('.');
      if (s.serverSideEncryption === 'aes256')
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'serverSideEncryption'],
          message: `expected "none" or "kms" with a kmsKeyId: cluster ${pgbackrest} uses pgBackRest, which cannot request aes256 (SSE-S3)`,
        });
      if (s.serverSideEncryption === 'kms' && s.kmsKeyId === undefined)
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'kmsKeyId'],
          message: `expected a KMS key id with serverSideEncryption "kms": cluster ${pgbackrest} uses pgBackRest, which needs the key named`,
        });
      if (s.objectLock)
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'objectLock'],
          message: `expected no objectLock: cluster ${pgbackrest} uses pgBackRest, whose repository pgdr cannot lock object by object`,
        });
    }
    for (const [cluster, cc] of Object.entries(c.clusters)) {
      const promise = { ...cc.retention, minWindowSeconds: durationSeconds(cc.retention.minWindow) };
      for (const [path, lock] of [
        [['storage', 'objectLock', 'days'], c.storage.objectLock],
        [['storage', 'secondary', 'objectLock', 'days'], c.storage.secondary?.objectLock],
      ] as const) {
        const short = lock && lockShortfall(lock, promise);
        if (short) ctx.addIssue({ code: 'custom', path: [...path], message: `${short} (cluster ${cluster})` });
      }
    }
    const owner = new Map<string, string>([[c.temporal.taskQueue, 'temporal.taskQueue (the control worker)']]);
    for (const [cluster, cc] of Object.entries(c.clusters)) {
      for (const [node, n] of Object.entries(cc.nodes)) {
        const queue = nodeTaskQueue(cluster, node, n.agentQueue);
        const other = owner.get(queue);
        if (other) {
          ctx.addIssue({
            code: 'custom',
            path: ['clusters', cluster, 'nodes', node, 'agentQueue'],
            message: `expected a task queue of this node's own, got "${queue}", which is also ${other} (set nodes.<node>.agentQueue)`,
          });
        } else owner.set(queue, `node ${node} of cluster ${cluster}`);
      }
    }
  });

export type PgdrConfig = z.infer<typeof configSchema>;
export type ClusterConfig = z.infer<typeof clusterSchema>;
export type NodeConfig = z.infer<typeof nodeSchema>;
