/**
 * The timeline the restore pre-flight and the WAL check follow, with stub agents and a stub
 * archive on the real Temporal: the current primary's, the newest one (said so) when no primary
 * answers, and no guess between two read-write servers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { freshQueue, stackConfig, temporalClient, workerConnection } from '../helpers/stack.js';
import { runWorkersUntil } from '../helpers/workers.js';
import { workflowsPath } from '../../worker/workers.js';
import { restorePreflight } from '../../workflows/restorePreflight.js';
import { walArchiveCheck } from '../../workflows/walArchiveCheck.js';
import { rootMessage } from '../../workflows/probe.js';
import type { NodeProbe } from '../../domain/status.js';
import type { RestorableBackup, RestoreRequest } from '../../domain/restore.js';
import type { ContinuityFacts } from '../../activities/steps/walCheck.js';
import { freeDestination } from '../helpers/restoreFacts.js';

const config = stackConfig();
let bundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  bundle = await bundleWorkflowCode({
    workflowsPath,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never,
  });
});

const probe = (node: string, timeline: number, streamingStandbys: number): NodeProbe => ({
  node,
  role: 'primary',
  systemIdentifier: '1',
  serverVersion: 170000,
  timeline,
  currentLsn: '0/9000000',
  receiveLsn: null,
  replayLsn: null,
  replayDelaySeconds: null,
  replayPaused: null,
  synchronousStandbyNames: '',
  dataChecksums: true,
  archiveMode: 'on',
  archiver: { archivedCount: 1, lastArchivedWal: null, lastArchivedAt: null, failedCount: 0, lastFailedWal: null, lastFailedAt: null },
  replication: Array.from({ length: streamingStandbys }, () => ({
    applicationName: 's',
    clientAddr: null,
    state: 'streaming',
    syncState: 'async',
    sentLsn: null,
    replayLsn: null,
    replayLagBytes: 0,
    replayLagSeconds: 0,
    slotName: null,
  })),
  walReceiver: null,
  probedAt: new Date().toISOString(),
});
const backup: RestorableBackup = {
  id: '20261130T100000000Z-F',
  method: 'basebackup',
  type: 'full',
  timeline: 1,
  startLsn: '0/2000028',
  stopLsn: '0/2000100',
  startWalSegment: '000000010000000000000002',
  stopTime: '2026-11-30T10:00:05.000Z',
  compression: 'zstd',
  bytes: 1,
  objects: [{ name: 'base.tar.zst', bytes: 1, sha256: 'x' }],
};
/** The archive as walContinuity reports it: timeline 2 branched off 1 at 0/5000060, and both advanced. */
const continuity = (timeline: number | null): ContinuityFacts & { newestTimeline: number } => {
  const t = timeline ?? 2;
  return {
    timeline: t,
    newestTimeline: 2,
    branches: [
      {
        timeline: 2,
        parent: 1,
        switchLsn: '0/5000060',
        bornAt: '2026-11-30T10:05:00.000Z',
        newestSegment: '000000020000000000000006',
        newestAt: '2026-11-30T10:05:04.000Z',
        parentAfter: { count: 2, newest: '000000010000000000000007', newestAt: '2026-11-30T10:05:09.000Z' },
      },
    ],
    continuity: {
      fromBackup: backup.id,
      fromTimeline: 1,
      fromSegment: backup.startWalSegment,
      lastSegment: t === 1 ? '000000010000000000000007' : '000000020000000000000006',
      expected: 5,
      missingCount: 0,
      missing: [],
      missingHistory: [],
      offChain: false,
      archivedObjects: 12,
    },
    history: t === 2 ? [{ timeline: 1, switchLsn: '0/5000060', reason: 'no recovery target specified' }] : [],
    backups: [backup],
  };
};

type Run<T> = (
  client: Awaited<ReturnType<typeof temporalClient>>['client'],
  control: string,
  nodes: { name: string; taskQueue: string }[],
) => Promise<T>;

async function withStubs<T>(agents: Record<string, () => Promise<NodeProbe>>, fn: Run<T>, asked: (number | null)[] = []): Promise<T> {
  const control = freshQueue('timeline-control');
  const connection = await workerConnection(config);
  const storage = {
    walContinuity: async (input: { timeline: number | null }) => (asked.push(input.timeline), continuity(input.timeline)),
    readWalCheck: async () => undefined,
    storeWalCheck: async () => undefined,
    // The destination's agent: pg_waldump finds the newest commit on the segment it is given.
    scanArchive: async (input: { lastSegment: string }) => ({
      lastCommit: {
        lsn: input.lastSegment.startsWith('00000001') ? '0/7000200' : '0/6000100',
        time: '2026-11-30T10:05:08Z',
        segment: input.lastSegment,
      },
      restorePoint: null,
      scanned: 1,
    }),
    inspectDestination: async () => ({ ...freeDestination, node: 'a' }),
  };
  const workers = [
    await Worker.create({ connection, taskQueue: control, workflowBundle: bundle, activities: storage }),
    ...(await Promise.all(
      Object.entries(agents).map(([node, fn]) =>
        Worker.create({ connection, taskQueue: `${control}-${node}`, activities: { probeNode: fn } }),
      ),
    )),
  ];
  const { client, close } = await temporalClient(config);
  try {
    const nodes = Object.keys(agents).map((name) => ({ name, taskQueue: `${control}-${name}` }));
    return await runWorkersUntil(workers, async () => fn(client, control, nodes));
  } finally {
    await close();
    await connection.close();
  }
}

const request: RestoreRequest = {
  cluster: 'stub',
  target: { latest: true },
  destination: { node: 'a', dataDir: '/r/x', port: 55432 },
  action: 'pause',
  inclusive: true,
  replaceExisting: false,
};
const unreachable = async (): Promise<NodeProbe> => {
  throw ApplicationFailure.nonRetryable('cannot connect to node "a"', 'PostgresUnreachableError');
};

describe("the restore pre-flight's timeline", () => {
  it('follows the primary the standbys stream from and pins recovery to it when a newer timeline is foreign', async () => {
    const asked: (number | null)[] = [];
    const out = await withStubs(
      { a: async () => probe('a', 1, 1), b: async () => probe('b', 2, 0) },
      (client, control, nodes) =>
        client.workflow.execute(restorePreflight, {
          taskQueue: control,
          workflowId: freshQueue('preflight'),
          args: [{ request, destinationQueue: control, nodes }],
        }),
      asked,
    );
    expect(asked).toEqual([1]);
    expect(out.problems).toEqual([]);
    expect(out.plan?.settings).toEqual({ kind: 'lsn', value: '0/7000200', inclusive: true, action: 'pause', timeline: 1 });
    expect(out.plan?.timeline).toEqual({
      number: 1,
      source: 'primary',
      pinned: true,
      note: 'more than one primary: a (timeline 1), b (timeline 2); a is the one the standbys stream from',
    });
  });

  it('falls back to the newest timeline when no primary answers, and says so in the plan', async () => {
    const asked: (number | null)[] = [];
    const out = await withStubs(
      { a: unreachable },
      (client, control, nodes) =>
        client.workflow.execute(restorePreflight, {
          taskQueue: control,
          workflowId: freshQueue('preflight'),
          args: [{ request, destinationQueue: control, nodes }],
        }),
      asked,
    );
    expect(asked).toEqual([null]);
    expect(out.plan?.settings).toEqual({ kind: 'lsn', value: '0/6000100', inclusive: true, action: 'pause' });
    expect(out.plan?.timeline).toEqual({
      number: 2,
      source: 'newest',
      pinned: false,
      note: 'following the newest timeline in the archive: no reachable primary: a: cannot connect to node "a"',
    });
  });
});

describe('the WAL check between two read-write servers no standby follows', () => {
  it('does not guess a primary and still names both timelines of the fork', async () => {
    const err = await withStubs({ a: async () => probe('a', 1, 0), b: async () => probe('b', 2, 0) }, (client, control, nodes) =>
      client.workflow
        .execute(walArchiveCheck, {
          taskQueue: control,
          workflowId: freshQueue('walcheck'),
          args: [{ cluster: 'stub', nodes, roundTripTimeoutSeconds: 5, maxLagSegments: 8, maxArchiveAgeMinutes: 30, trigger: 'test' }],
        })
        .then(
          () => null,
          (e: unknown) => e,
        ),
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const message = rootMessage(err);
    expect(message).toMatch(
      /^WAL archive of cluster "stub" is unhealthy: more than one primary: a \(timeline 1\), b \(timeline 2\), and no standby streams from exactly one of them; split brain: timelines 1 and 2 both advanced\. /,
    );
    expect(message).toContain(
      "the newest 000000010000000000000007 at 2026-11-30T10:05:09.000Z; timeline 2's newest is 000000020000000000000006 at 2026-11-30T10:05:04.000Z. HINT: two primaries archive into this archive; find the server clients write to",
    );
  });
});
