/**
 * A fake cluster for the fast tier: a real PgdrConfig (through config/schema.ts) with a cluster
 * of its own name, one activity worker per node agent queue, and stub activities that answer
 * like a small healthy cluster (node roles, restore directories) and record every call.
 *
 * Stubs are keyed by activity name and the queue that ran them ('control' or the node the
 * queue belongs to); they never read `cluster` or `node` from an activity's input. A test
 * overrides a stub with on(), makes it fail with fail(), or makes it wait for a cancel with
 * blockUntilCancelled().
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Workflow } from '@temporalio/common';
import { configSchema, type PgdrConfig } from '../../../config/schema.js';
import { nodeQueues } from '../../../control/inputs.js';
import { holderOf, lastHolderOf } from '../../../adapters/temporal.js';
import { lockWorkflowId, setAsideName } from '../../../domain/naming.js';
import type { NodeProbe } from '../../../domain/status.js';
import type { RestorableBackup } from '../../../domain/restore.js';
import type { DrillReport } from '../../../domain/drill.js';
import { proofsFrom } from '../../../domain/drillCoverage.js';
import { WORKER_HEARTBEATS } from './server.js';

/** Every activity name the workflows call; each queue's worker registers them all and routes to the stubs. */
export const ACTIVITY_NAMES = [
  // control
  'readWalCheck',
  'storeWalCheck',
  'storeSwitchoverReport',
  'storeRebuildReport',
  'storeRestoreReport',
  'storeDrillReport',
  'drillProofs',
  'awaitArchived',
  'walContinuity',
  'refreshRecoveryWindow',
  'writeManifest',
  'planExpiry',
  'applyExpiry',
  'newestGoodBackup',
  'pgbouncerAdmin',
  'patroniMembers',
  'patroniSwitchover',
  'patroniReinitialize',
  'awaitPatroni',
  'lockHolder',
  'lockHolderOf',
  'runningLockHolderOf',
  // node agents
  'probeNode',
  'uploadBaseBackup',
  'verifyBaseBackup',
  'enableArchivingOnNode',
  'switchWal',
  'lastArchivedCommit',
  'scanArchive',
  'inspectDestination',
  'prepareDestination',
  'fetchBaseBackup',
  'verifyRestoredBackup',
  'pgbackrestVerifySet',
  'pgbackrestRestoreSet',
  'writeRecoverySettings',
  'startRestoredInstance',
  'awaitRecoveryTarget',
  'settleRecoverySettings',
  'cleanupRestore',
  'removeOldDataDir',
  'inspectRestoredCopies',
  'dropRestoredCopy',
  'runDrillChecks',
  'pgbackrestBackup',
  'pgbackrestExpireSet',
  'stopServer',
  'startServer',
  'stopAndReadControl',
  'readControlData',
  'checkpoint',
  'awaitArchiverIdle',
  'awaitReplayed',
  'promote',
  'setRestoreCommand',
  'ensureSlot',
  'setSynchronousStandbyNames',
  'writeStandbySettings',
  'cloneFromPrimary',
  'rewindFrom',
  'repointStandby',
  'awaitStreaming',
  'pointPgBouncer',
] as const;

export type ActivityName = (typeof ACTIVITY_NAMES)[number];

export interface ClusterSpec {
  /** Node names; the first is the primary, the others stream from it. Default a, b. */
  nodes?: string[];
  /** A PgBouncer whose agent runs on this node. */
  pgbouncerOn?: string;
}

export interface Call {
  /** 'control', or the node whose agent queue ran it. */
  where: string;
  name: ActivityName;
  input: any;
  /** The workflow that scheduled it. */
  workflowId: string;
}

type Stub = (input: any, call: Call) => unknown;

/** A restore destination as the fake hosts keep it. */
interface Dir {
  state: 'empty' | 'pgData';
  running: boolean;
}

export const RESTORE_COMMAND = "'/opt/pgdr/bin/pgdr' wal fetch %f %p";
export const SHUTDOWN_CHECKPOINT = '0/5000028';
export const RESTORE_DIR = '/srv/pgdr-fast/restores';
export const LAST_COMMIT = { lsn: '0/5000100', time: '2026-01-01T01:00:00.000Z' };

/** The one good backup the fake catalog holds. */
export const BACKUP: RestorableBackup = {
  id: '20260101T000000000Z',
  method: 'basebackup',
  type: 'full',
  timeline: 1,
  startLsn: '0/2000028',
  stopLsn: '0/2000100',
  startWalSegment: '000000010000000000000002',
  stopTime: '2026-01-01T00:00:10.000Z',
  compression: 'zstd',
  bytes: 1000,
  objects: [{ name: 'base.tar.zst', bytes: 1000, sha256: 'ab'.repeat(32) }],
};

/** An activity failure the workflows do not retry (a PgdrError-like type). */
export function fail(message: string, type = 'FakeFailure'): Stub {
  return () => {
    throw ApplicationFailure.nonRetryable(message, type);
  };
}

/** Waits, heartbeating, until the activity is cancelled; then fails as cancelled. */
export async function blockUntilCancelled(): Promise<never> {
  const ctx = Context.current();
  for (;;) {
    ctx.heartbeat();
    await ctx.sleep(100);
  }
}

let counter = 0;

export class FakeCluster {
  readonly calls: Call[] = [];
  /** Node roles and whether each server runs. */
  readonly nodes = new Map<string, { role: 'primary' | 'standby'; running: boolean }>();
  /** Restore destinations by data directory (absent: not in the map). */
  readonly dirs = new Map<string, Dir>();
  /** The drill reports stored, oldest first (what drillProofs reads back). */
  readonly drillReports: DrillReport[] = [];
  private readonly stubs = new Map<string, Stub>();
  private readonly waiters: { match: (c: Call) => boolean; resolve: (c: Call) => void }[] = [];
  private readonly workers: { worker: Worker; running: Promise<void> }[] = [];
  private readonly started: WorkflowHandle[] = [];

  private constructor(
    readonly name: string,
    readonly config: PgdrConfig,
    readonly client: Client,
  ) {}

  static async start(o: { client: Client; connection: NativeConnection; controlQueue: string; spec: ClusterSpec }): Promise<FakeCluster> {
    const names = o.spec.nodes ?? ['a', 'b'];
    const name = `fast${++counter}-${Math.random().toString(36).slice(2, 8)}`;
    const config = configSchema.parse({
      temporal: { address: '127.0.0.1:7233', namespace: 'default', taskQueue: o.controlQueue },
      storage: {
        endpoint: 'https://s3.fast.invalid',
        bucket: 'pgdr-fast',
        accessKeyId: { env: 'PGDR_FAST_UNUSED' },
        secretAccessKey: { env: 'PGDR_FAST_UNUSED' },
      },
      clusters: {
        [name]: {
          sslmode: 'disable',
          restore: { dir: RESTORE_DIR },
          switchover: { backupAfter: false },
          ...(o.spec.pgbouncerOn
            ? { pgbouncer: { node: o.spec.pgbouncerOn, databasesFile: '/srv/pgdr-fast/pgbouncer/databases.ini' } }
            : {}),
          nodes: Object.fromEntries(names.map((n, i) => [n, { port: 5432 + i, dataDir: `/srv/pgdr-fast/${n}/data` }])),
        },
      },
    });
    const fake = new FakeCluster(name, config, o.client);
    names.forEach((n, i) => fake.nodes.set(n, { role: i === 0 ? 'primary' : 'standby', running: true }));
    for (const { name: node, taskQueue } of nodeQueues(config, name)) {
      const activities = Object.fromEntries(ACTIVITY_NAMES.map((a) => [a, (input: unknown) => fake.invoke(node, a, input)]));
      const worker = await Worker.create({ connection: o.connection, namespace: 'default', taskQueue, activities, ...WORKER_HEARTBEATS });
      fake.workers.push({ worker, running: worker.run() });
    }
    return fake;
  }

  /** Replaces the stub of `name` (on every queue, or only on `where`). */
  on(name: ActivityName, stub: Stub, where?: string): this {
    this.stubs.set(where ? `${where}:${name}` : name, stub);
    return this;
  }

  /** The default stub of `name` (a test wraps it to change one field). */
  defaultOf(name: ActivityName): Stub {
    const stub = this.defaults[name];
    if (!stub) throw new Error(`the fake cluster has no default stub for ${name}`);
    return stub;
  }

  /** Back to the default stub of `name` (on every queue, or only on `where`). */
  off(name: ActivityName, where?: string): this {
    this.stubs.delete(where ? `${where}:${name}` : name);
    return this;
  }

  /** Runs the stub for a call and records it. */
  async invoke(where: string, name: ActivityName, input: any): Promise<unknown> {
    const call: Call = { where, name, input, workflowId: Context.current().info.workflowExecution?.workflowId ?? '' };
    this.calls.push(call);
    for (const w of this.waiters.filter((x) => x.match(call))) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(call);
    }
    const stub = this.stubs.get(`${where}:${name}`) ?? this.stubs.get(name) ?? this.defaults[name];
    if (!stub) throw ApplicationFailure.nonRetryable(`the fake cluster has no stub for ${name} on ${where}`, 'FastTierSetup');
    return stub(input, call);
  }

  /** Resolves when a call of `name` (on `where`, by `workflowId`) has started; at once if one already has. */
  called(name: ActivityName, by: { where?: string; workflowId?: string } = {}): Promise<Call> {
    const match = (c: Call) =>
      c.name === name &&
      (by.where === undefined || c.where === by.where) &&
      (by.workflowId === undefined || c.workflowId === by.workflowId);
    const done = this.calls.find(match);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** The calls of these activities, in order, as "where name". */
  trace(...names: ActivityName[]): string[] {
    return this.calls.filter((c) => names.includes(c.name)).map((c) => `${c.where} ${c.name}`);
  }

  callsOf(name: ActivityName, where?: string): Call[] {
    return this.calls.filter((c) => c.name === name && (where === undefined || c.where === where));
  }

  /** Starts a workflow on the control queue with a pgdr-shaped id, <procedure>/<cluster>/<suffix>. */
  async start<T extends Workflow>(workflowType: string, args: Parameters<T>, suffix = 'test'): Promise<WorkflowHandle<T>> {
    const handle = await this.client.workflow.start<T>(workflowType, {
      taskQueue: this.config.temporal.taskQueue,
      workflowId: this.workflowId(workflowType, suffix),
      args,
    } as never);
    this.started.push(handle);
    return handle;
  }

  workflowId(workflowType: string, suffix = 'test'): string {
    return `${workflowType}/${this.name}/${suffix}`;
  }

  /**
   * Waits until the lock workflow `lockId` (default: this cluster's) has closed and says whether
   * its holder released it: 'released' when the run got the release signal (it then completes,
   * or is terminated by its closing holder before it ran that task: free either way), otherwise
   * how it closed without one (a holder that died).
   */
  async lockRelease(lockId = lockWorkflowId(this.name)): Promise<string> {
    const handle = this.client.workflow.getHandle(lockId);
    await handle.result().catch(() => undefined);
    const { status } = await handle.describe();
    const history = await handle.fetchHistory();
    const released = history.events?.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'release');
    return released && status.name !== 'RUNNING' ? 'released' : `${status.name} without a release`;
  }

  /** The workflow holding this cluster's lock (null: free), as Temporal has it. */
  lockHolder(): Promise<string | null> {
    return holderOf(this.client, lockWorkflowId(this.name));
  }

  /** Terminates what the test left running, then stops the node agents. */
  async close(): Promise<void> {
    for (const h of this.started) {
      await h.terminate('fast test ended').catch((err: Error) => {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      });
    }
    for (const { worker } of this.workers) worker.shutdown();
    await Promise.all(this.workers.map((w) => w.running));
  }

  /** A probe of a running node in the fake cluster's current shape. */
  probe(node: string): NodeProbe {
    const me = this.nodes.get(node)!;
    const primary = me.role === 'primary';
    const standbys = [...this.nodes].filter(([, s]) => s.role === 'standby' && s.running).map(([n]) => n);
    return {
      node,
      role: me.role,
      systemIdentifier: '7000000000000000001',
      serverVersion: 150000,
      timeline: 1,
      currentLsn: primary ? '0/5000000' : null,
      receiveLsn: primary ? null : '0/5000000',
      replayLsn: primary ? null : '0/5000000',
      replayDelaySeconds: primary ? null : 0,
      replayPaused: primary ? null : false,
      synchronousStandbyNames: '',
      dataChecksums: true,
      archiveMode: 'on',
      archiver: {
        archivedCount: 4,
        lastArchivedWal: '000000010000000000000004',
        lastArchivedAt: '2026-01-01T00:59:00.000Z',
        failedCount: 0,
        lastFailedWal: null,
        lastFailedAt: null,
      },
      replication: primary
        ? standbys.map((s) => ({
            applicationName: s,
            clientAddr: '127.0.0.1',
            state: 'streaming',
            syncState: 'async',
            sentLsn: '0/5000000',
            replayLsn: '0/5000000',
            replayLagBytes: 0,
            replayLagSeconds: 0,
            slotName: this.slot(s),
          }))
        : [],
      walReceiver: primary
        ? null
        : { status: 'streaming', senderHost: '127.0.0.1', senderPort: 5432, slotName: this.slot(node), receivedTimeline: 1 },
      probedAt: new Date().toISOString(),
    };
  }

  slot(node: string): string {
    return `pgdr_${node}`;
  }

  private setRunning(node: string, running: boolean): void {
    this.nodes.get(node)!.running = running;
  }

  /** How a small healthy cluster answers; `call.where` is the node whose agent runs the stub. */
  private readonly defaults: Partial<Record<ActivityName, Stub>> = {
    // control
    readWalCheck: () => null,
    // As the control worker answers a run that lost the lock race: the winner, even once it has closed.
    lockHolder: () => lastHolderOf(this.client, lockWorkflowId(this.name)),
    lockHolderOf: (i: { lockId: string }) => lastHolderOf(this.client, i.lockId),
    runningLockHolderOf: (i: { lockId: string }) => holderOf(this.client, i.lockId),
    // The next timeline's history is archived once a promotion made it (not before).
    awaitArchived: (i: { timeoutSeconds: number }) => ({ ok: i.timeoutSeconds > 0 }),
    pgbouncerAdmin: () => undefined,
    storeSwitchoverReport: () => undefined,
    storeRestoreReport: () => 'stored',
    storeDrillReport: (i: { report: DrillReport }) => void this.drillReports.push(i.report),
    drillProofs: () => proofsFrom(this.drillReports),
    walContinuity: () => ({
      timeline: 1,
      newestTimeline: 1,
      branches: [],
      continuity: {
        fromBackup: BACKUP.id,
        fromTimeline: 1,
        fromSegment: BACKUP.startWalSegment,
        lastSegment: '000000010000000000000005',
        expected: 4,
        missingCount: 0,
        missing: [],
        missingHistory: [],
        offChain: false,
        archivedObjects: 4,
      },
      history: [],
      backups: [BACKUP],
    }),
    // nodes: replication
    probeNode: (_i, c) => {
      if (!this.nodes.get(c.where)!.running) throw ApplicationFailure.nonRetryable(`${c.where}: connection refused`, 'FakeFailure');
      return this.probe(c.where);
    },
    checkpoint: () => undefined,
    ensureSlot: () => undefined,
    awaitArchiverIdle: () => ({ idle: true }),
    setRestoreCommand: (i: { mode: string }) => (i.mode === 'off' ? { previous: RESTORE_COMMAND } : { previous: null }),
    stopAndReadControl: (_i, c) => {
      this.setRunning(c.where, false);
      return { control: { state: 'shut down', checkpointLsn: SHUTDOWN_CHECKPOINT } };
    },
    awaitReplayed: () => ({ ok: true, replayLsn: '0/50000A0' }),
    promote: (_i, c) => {
      for (const s of this.nodes.values()) s.role = 'standby';
      this.nodes.get(c.where)!.role = 'primary';
      return { promoted: true, timeline: 2, detail: 'promoted' };
    },
    stopServer: (_i, c) => this.setRunning(c.where, false),
    startServer: (_i, c) => this.setRunning(c.where, true),
    setSynchronousStandbyNames: () => undefined,
    pointPgBouncer: () => undefined,
    rewindFrom: () => ({ rewound: false, seconds: 0 }),
    writeStandbySettings: (_i, c) => void (this.nodes.get(c.where)!.role = 'standby'),
    repointStandby: () => undefined,
    awaitStreaming: () => ({ lagBytes: 0 }),
    // nodes: restores
    scanArchive: () => ({ lastCommit: { ...LAST_COMMIT, segment: '000000010000000000000005' }, restorePoint: null, scanned: 4 }),
    inspectDestination: (i: { dataDir: string; port: number }, c) => {
      const d = this.dirs.get(i.dataDir);
      return {
        node: c.where,
        dataDir: i.dataDir,
        port: i.port || 55432,
        state: d?.state ?? 'absent',
        running: d?.running ?? false,
        portFree: !d?.running,
        canonicalDir: i.dataDir,
        host: `host-${this.name}-${c.where}`,
        liveOverlaps: [],
        withinRoots: true,
        roots: [RESTORE_DIR],
        standby: false,
      };
    },
    prepareDestination: (i: { dataDir: string; restoreId: string; replacing: boolean }) => {
      let oldDataDir: string | null = null;
      if (i.replacing) {
        oldDataDir = setAsideName(i.dataDir, i.restoreId);
        this.dirs.set(oldDataDir, { state: 'pgData', running: false });
      }
      this.dirs.set(i.dataDir, { state: 'empty', running: false });
      return { oldDataDir, createdRoot: null };
    },
    fetchBaseBackup: (i: { dataDir: string }) => {
      this.dirs.set(i.dataDir, { state: 'pgData', running: false });
      return { downloadSeconds: 1, extractSeconds: 1, bytes: BACKUP.bytes };
    },
    verifyRestoredBackup: () => ({ tool: 'pg_verifybackup', ok: true, detail: 'backup successfully verified', seconds: 0.5 }),
    writeRecoverySettings: () => undefined,
    startRestoredInstance: (i: { dataDir: string }) => {
      this.dirs.get(i.dataDir)!.running = true;
      return { pid: 4242, port: 55432 };
    },
    awaitRecoveryTarget: (i: { action: string }) => ({
      replayLsn: LAST_COMMIT.lsn,
      lastCommitTime: LAST_COMMIT.time,
      state: i.action === 'promote' ? 'promoted' : 'paused',
    }),
    settleRecoverySettings: () => undefined,
    removeOldDataDir: (i: { oldDataDir: string }) => ({ removed: this.dirs.delete(i.oldDataDir) }),
    // Undo: the restore's directory gone, a replaced one back in its place (running again when asked).
    cleanupRestore: (i: { dataDir: string; createdDir: boolean; oldDataDir: string | null; restartOld: boolean }) => {
      const removed = i.createdDir && this.dirs.delete(i.dataDir);
      const old = i.oldDataDir ? this.dirs.get(i.oldDataDir) : undefined;
      if (old && i.oldDataDir) {
        this.dirs.delete(i.oldDataDir);
        this.dirs.set(i.dataDir, { state: old.state, running: i.restartOld });
      }
      return { removed, restoredOld: old !== undefined, keptLog: null, logLines: null };
    },
    runDrillChecks: () => ({
      checks: [{ name: 'pg_amcheck', kind: 'amcheck', ok: true, severity: 'error', actual: 'no corruption', expected: 'no corruption' }],
      seconds: 1,
    }),
  };
}
