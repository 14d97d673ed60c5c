/**
 * Schemas of the stored reports and results the API answers with, for the OpenAPI document.
 * Each mirrors a domain type; the route table checks at compile time that what a handler
 * returns fits its schema, so a field the type drops or retypes breaks the build.
 */
import { z } from 'zod';
import type { ClusterStatus } from '../domain/status.js';
import type { WalCheckResult } from '../domain/walCheck.js';
import type { RestoreReport } from '../domain/restore.js';
import type { DrillReport } from '../domain/drill.js';
import type { DrillCoverage } from '../domain/drillCoverage.js';
import type { RebuildReport, SwitchoverReport } from '../domain/replication.js';
import type { CopyReport } from '../domain/copy.js';

const nullableString = z.string().nullable();

/** What a restore, drill or rebuild may read: `repository` in their request bodies. */
export const repositoryChoice = z
  .enum(['primary', 'secondary', 'auto'])
  .default('primary')
  .describe(
    'the repository to read backups and WAL from: primary, secondary (storage.secondary, the offsite copy), or auto (the secondary only when the primary storage is unreachable; the report says so)',
  );
const nullableNumber = z.number().nullable();

export const archiverStats = z.object({
  archivedCount: z.number(),
  lastArchivedWal: nullableString,
  lastArchivedAt: nullableString,
  failedCount: z.number(),
  lastFailedWal: nullableString,
  lastFailedAt: nullableString,
});

const nodeProbe = z.object({
  node: z.string(),
  role: z.enum(['primary', 'standby']),
  systemIdentifier: z.string(),
  serverVersion: z.number(),
  segmentBytes: z.number().optional().describe('wal_segment_size in bytes'),
  timeline: z.number(),
  currentLsn: nullableString.describe('pg_current_wal_lsn() on a primary; null on a standby'),
  receiveLsn: nullableString,
  replayLsn: nullableString,
  replayDelaySeconds: nullableNumber,
  replayPaused: z.boolean().nullable(),
  synchronousStandbyNames: z.string(),
  dataChecksums: z.boolean(),
  archiveMode: z.string(),
  archiver: archiverStats,
  replication: z.array(
    z.object({
      applicationName: z.string(),
      clientAddr: nullableString,
      state: z.string(),
      syncState: z.string(),
      sentLsn: nullableString,
      replayLsn: nullableString,
      replayLagBytes: nullableNumber,
      replayLagSeconds: nullableNumber,
      slotName: nullableString,
    }),
  ),
  walReceiver: z
    .object({
      status: z.string(),
      senderHost: nullableString,
      senderPort: nullableNumber,
      slotName: nullableString,
      receivedTimeline: nullableNumber,
    })
    .nullable(),
  probedAt: z.string(),
});

/** domain/status.ts ClusterStatus. */
export const clusterStatus = z.object({
  cluster: z.string(),
  primary: nullableString,
  nodes: z.array(
    z.object({
      node: z.string(),
      taskQueue: z.string(),
      reachable: z.boolean(),
      error: z.string().optional().describe('why the node could not be probed'),
      probe: nodeProbe.optional(),
      lagBytes: nullableNumber.optional().describe("a standby: bytes its replay LSN trails the primary's current LSN"),
      lagSeconds: nullableNumber
        .optional()
        .describe(
          "a standby: the primary's pg_stat_replication.replay_lag in seconds (0 when caught up); null when the primary does not list it",
        ),
    }),
  ),
  warnings: z.array(z.string()).describe('problems a DBA should look at, in plain words (empty when healthy)'),
  checkedAt: z.string(),
});

const recoveryPoint = z.object({ lsn: z.string(), time: nullableString, backupId: z.string().optional() });

/** domain/walCheck.ts TimelineWindow. */
export const timelineWindow = z.object({ timeline: z.number(), earliest: recoveryPoint.nullable(), latest: recoveryPoint.nullable() });

const branchPoint = z.object({ lsn: z.string(), time: nullableString, backupId: z.string().optional() });

/** domain/timelines.ts BranchWindow. */
export const branchWindow = z.object({
  timeline: z.number(),
  parent: nullableNumber.describe('the timeline it branched off (null: timeline 1, or no .history file)'),
  switchLsn: nullableString.describe('where it branched off its parent'),
  current: z.boolean().describe("the current primary's timeline"),
  earliest: branchPoint.nullable().describe('the stop of the oldest good backup on its branch'),
  latest: branchPoint
    .nullable()
    .describe(
      'its newest archived commit (current timeline) or the end of its newest archived segment (time null; a restore pre-flight reads the commit)',
    ),
});

/** domain/walCheck.ts WalCheckResult. */
export const walCheckResult = z.object({
  formatVersion: z.literal(1),
  cluster: z.string(),
  workflowId: z.string(),
  checkedAt: z.string(),
  healthy: z.boolean(),
  problems: z.array(z.string()),
  warnings: z.array(z.string()),
  primary: nullableString,
  timeline: nullableNumber,
  archiveMode: nullableString,
  archiver: archiverStats.nullable(),
  failedSincePrevious: nullableNumber,
  roundTrip: z
    .object({
      segment: z.string(),
      ok: z.boolean(),
      seconds: z.number(),
      archiverSeconds: z
        .number()
        .nullable()
        .optional()
        .describe("after reaching S3, until the primary's archiver reported it (null: not in time)"),
      archiverProgressing: z
        .boolean()
        .optional()
        .describe('not in time, but the archiver reported newer segments meanwhile (behind, still archiving)'),
    })
    .nullable(),
  continuity: z
    .object({
      fromBackup: nullableString,
      fromTimeline: nullableNumber,
      fromSegment: nullableString,
      lastSegment: nullableString,
      expected: z.number(),
      missingCount: z.number(),
      missing: z.array(z.string()),
      missingHistory: z.array(z.string()),
      offChain: z.boolean(),
      archivedObjects: z.number(),
    })
    .nullable(),
  lag: z.object({ bytes: z.number(), segments: z.number(), seconds: z.number() }).nullable(),
  window: z.array(timelineWindow),
  branchWindows: z.array(branchWindow).optional(),
  branches: z
    .array(
      z.object({
        timeline: z.number(),
        parent: z.number(),
        switchLsn: z.string(),
        bornAt: nullableString,
        newestSegment: nullableString,
        newestAt: nullableString,
        parentAfter: z.object({ count: z.number(), newest: z.string(), newestAt: z.string() }).nullable(),
      }),
    )
    .optional(),
  windowAsOf: z.string().optional(),
  segmentBytes: z.number().optional(),
  listing: z
    .object({
      mode: z.enum(['full', 'incremental']),
      why: nullableString,
      listCalls: z.number(),
      listedObjects: z.number(),
      fullScanAt: z.string(),
    })
    .optional()
    .describe(
      'how the archive was listed: only what is new since the last check (one LIST per timeline), or in full (daily, on demand, or to prove a gap)',
    ),
});

export const restoreTarget = z.union([
  z.object({ time: z.string() }),
  z.object({ lsn: z.string() }),
  z.object({ name: z.string() }),
  z.object({ xid: z.string() }),
  z.object({ latest: z.literal(true) }),
  z.object({ immediate: z.literal(true) }),
]);

export const restoreDestination = z.object({ node: z.string(), dataDir: z.string(), port: z.number() });

/** domain/timelines.ts TimelineRequest. */
export const timelineRequest = z.union([z.number(), z.enum(['current', 'latest'])]);

export const timelineChoice = z.object({
  number: z.number(),
  source: z.enum(['primary', 'newest', 'request']),
  pinned: z.boolean(),
  note: nullableString,
  requested: timelineRequest.optional().describe('the timeline the request asked for (source "request")'),
});

/** domain/restore.ts RestoreReport. */
export const restoreReport = z.object({
  formatVersion: z.literal(1),
  id: z.string(),
  cluster: z.string(),
  workflowId: z.string(),
  target: restoreTarget,
  inclusive: z.boolean(),
  action: z.enum(['promote', 'pause']),
  backupId: z.string(),
  method: z.enum(['basebackup', 'pgbackrest']),
  repository: z.literal('secondary').optional().describe('the backup and WAL were read from the secondary repository; absent: the primary'),
  destination: restoreDestination,
  replaced: z.object({ oldDataDir: z.string(), removed: z.boolean() }).nullable(),
  tablespaces: z
    .array(z.object({ oid: z.number(), name: z.string(), from: z.string(), to: z.string(), explicit: z.boolean() }))
    .optional()
    .describe('where each tablespace was restored: from its original location to its own directory'),
  notes: z.array(z.string()).optional(),
  stop: z.object({
    replayLsn: z.string(),
    lastCommitTime: nullableString,
    state: z.enum(['paused', 'promoted']),
    xactStatus: nullableString.optional().describe('an xid target: pg_xact_status of that transaction in the stopped copy'),
    prefetch: z
      .object({ fetched: z.number(), served: z.number(), corrupt: z.number(), missing: z.number() })
      .optional()
      .describe(
        'restore prefetching: segments downloaded ahead into the spool, taken from it by replay, found corrupt, not in the archive',
      ),
  }),
  timeline: timelineChoice.optional(),
  seconds: z
    .object({ preflight: z.number(), download: z.number(), extract: z.number(), verify: z.number(), replay: z.number(), total: z.number() })
    .describe('phases in seconds: the achieved RTO is their total'),
  bytes: z.object({ downloaded: z.number(), restored: z.number() }),
  verification: z.object({ tool: z.string(), ok: z.boolean(), detail: z.string() }),
  startedAt: z.string(),
  finishedAt: z.string(),
});

/** domain/drill.ts DrillReport. */
export const drillReport = z.object({
  formatVersion: z.literal(1),
  id: z.string(),
  cluster: z.string(),
  workflowId: z.string(),
  trigger: z.string(),
  target: z.enum(['latest', 'immediate']),
  node: z.string(),
  ok: z.boolean(),
  failures: z.array(z.string()).describe('the failed checks in words, each with its actual and expected value'),
  restores: z.array(
    z.object({
      backupId: z.string(),
      method: z.enum(['basebackup', 'pgbackrest']),
      role: z.enum(['newest', 'older']),
      restore: restoreReport.nullable(),
      checks: z.array(
        z.object({
          name: z.string(),
          kind: z.enum(['verification', 'checksums', 'amcheck', 'assertion', 'rowcount']),
          ok: z.boolean(),
          severity: z.enum(['error', 'warning']),
          actual: nullableString,
          expected: z.string(),
          detail: z.string().optional(),
        }),
      ),
      rtoSeconds: nullableNumber,
      rpoSeconds: nullableNumber,
      lastCommitTime: nullableString,
      checksSeconds: nullableNumber,
      error: nullableString,
      teardown: z.object({ removed: z.boolean() }).nullable(),
    }),
  ),
  rtoSeconds: nullableNumber,
  rpoSeconds: nullableNumber,
  startedAt: z.string(),
  finishedAt: z.string(),
  repository: z
    .literal('secondary')
    .optional()
    .describe('the drill restored from the secondary repository (and stored this report there); absent: the primary'),
  notes: z.array(z.string()).optional().describe('why auto chose the secondary'),
});

/** domain/replication.ts RebuildReport. */
export const rebuildReport = z.object({
  formatVersion: z.literal(1),
  cluster: z.string(),
  node: z.string(),
  workflowId: z.string(),
  source: z.enum(['primary', 'backup']),
  primary: z.string(),
  backupId: nullableString,
  oldDataDir: nullableString,
  oldDataDirRemoved: z.boolean(),
  lagBytes: nullableNumber,
  seconds: z.object({ clone: z.number(), catchUp: z.number(), total: z.number() }),
  viaPatroni: z.boolean(),
  startedAt: z.string(),
  finishedAt: z.string(),
  repository: z
    .object({ name: z.literal('secondary'), note: nullableString })
    .optional()
    .describe('source backup: read from the secondary repository (and why, for auto); absent: the primary'),
});

/** domain/replication.ts SwitchoverReport. */
export const switchoverReport = z.object({
  formatVersion: z.literal(1),
  cluster: z.string(),
  workflowId: z.string(),
  oldPrimary: z.string(),
  newPrimary: z.string(),
  viaPatroni: z.boolean(),
  shutdownCheckpointLsn: nullableString,
  newTimeline: nullableNumber,
  historyArchived: z.boolean().nullable(),
  pgbouncer: z.object({ paused: z.boolean(), repointed: z.boolean() }).nullable(),
  rejoined: z.array(z.object({ node: z.string(), rewound: z.boolean(), streaming: z.boolean() })),
  pauseSeconds: nullableNumber,
  backupWorkflowId: nullableString,
  warnings: z.array(z.string()),
  seconds: z.object({ preconditions: z.number(), fence: z.number(), promote: z.number(), rejoin: z.number(), total: z.number() }),
  startedAt: z.string(),
  finishedAt: z.string(),
});

/** domain/drillCoverage.ts DrillCoverage. */
export const drillCoverage = z.object({
  proofWindowDays: z.number().describe('a drill proof counts for this many days'),
  backups: z.number().describe('good backups in the catalog'),
  proven: z.number().describe('of them, proven by a drill inside the window'),
  ratio: z.number().nullable().describe('proven / backups (null: no backup yet)'),
  unproven: z.array(z.string()).describe('backup ids not proven inside the window, oldest first: the next drills prove them in this order'),
  rows: z.array(
    z.object({
      backupId: z.string(),
      proof: z
        .object({ backupId: z.string(), drillId: z.string(), provenAt: z.string() })
        .nullable()
        .describe('the newest drill that restored it and passed every check, inside the window'),
    }),
  ),
});

/** domain/copy.ts CopyReport. */
export const copyReport = z.object({
  id: z.string(),
  cluster: z.string(),
  workflowId: z.string(),
  trigger: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  seconds: z.number(),
  secondary: z.object({ endpoint: z.string(), bucket: z.string(), prefix: z.string() }).describe('where the copy went'),
  backupsCopied: z.array(z.string()).describe('backups this run copied, oldest first'),
  backupsOnSecondary: z.array(z.string()).describe('good backups with a checked copy on the secondary after this run'),
  backupsSkipped: z
    .array(z.object({ id: z.string(), reason: z.string() }))
    .describe('good backups not copied (gone from the primary meanwhile)'),
  wal: z.object({
    from: nullableString.describe('the oldest segment any good backup needs: WAL from here on is copied'),
    copied: z.number(),
    bytes: z.number(),
    newestOnSecondary: nullableString,
  }),
  bytes: z.number().describe('bytes copied by this run (base objects and WAL)'),
  mbPerSecond: z.number(),
  verified: z
    .object({ objects: z.number(), bytes: z.number().nullable(), tool: z.literal('pgbackrest verify').optional() })
    .nullable()
    .describe('with verify: every object on the secondary re-read (pgbackrest method: by pgbackrest verify, which counts no bytes)'),
});

/** true when A and B are the same type, field for field (optional and nullable alike). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Fails to compile unless its argument is true: a schema above and its domain type must not drift apart. */
const same = <T extends true>(_: T) => undefined;
same<Same<z.infer<typeof clusterStatus>, ClusterStatus>>(true);
same<Same<z.infer<typeof walCheckResult>, WalCheckResult>>(true);
same<Same<z.infer<typeof restoreReport>, RestoreReport>>(true);
same<Same<z.infer<typeof drillReport>, DrillReport>>(true);
same<Same<z.infer<typeof drillCoverage>, DrillCoverage>>(true);
same<Same<z.infer<typeof rebuildReport>, RebuildReport>>(true);
same<Same<z.infer<typeof switchoverReport>, SwitchoverReport>>(true);
same<Same<z.infer<typeof copyReport>, CopyReport>>(true);
