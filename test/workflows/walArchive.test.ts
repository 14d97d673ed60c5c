/**
 * WAL archiving end to end, on a Postgres server of the test's own (its settings get broken
 * on purpose): enable through the API, archive under load, a green check, a red one that names
 * the failing segment, green again after the fix, and a segment deleted from S3 named exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/stack.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import { deleteKeys } from '../../adapters/storage.js';
import { listArchivedWal } from '../../adapters/walStore.js';
import { segmentName, segmentNumber } from '../../domain/wal.js';
import { formatLsn } from '../../domain/lsn.js';
import type { WalCheckResult } from '../../domain/walCheck.js';
import { rootMessage } from '../../workflows/probe.js';

describe('WAL archiving and walArchiveCheck', () => {
  let pg: Awaited<ReturnType<typeof ownPostgres>>;
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;
  let backupStartSegment: string;

  const check = async (): Promise<{ ok: true; result: WalCheckResult } | { ok: false; message: string; stored: WalCheckResult }> => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/wal-archive/check`, {});
    expect(res.status).toBe(202);
    try {
      return { ok: true, result: await c.temporal.workflow.getHandle(res.body.workflowId).result() };
    } catch (err) {
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const stored = await c.call('GET', `/api/v1/clusters/${tc.name}/wal-archive`);
      expect(stored.body.workflowId).toBe(res.body.workflowId);
      return { ok: false, message: rootMessage(err), stored: stored.body };
    }
  };
  const enable = async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/archive/enable`, {});
    expect(res.status).toBe(202);
    return { started: res.body, result: await c.temporal.workflow.getHandle(res.body.workflowId).result() };
  };

  beforeAll(async () => {
    pg = await ownPostgres();
    await pg.start(); // archive_mode on, archive_command not set yet
    tc = testCluster('wal', (cl) => {
      cl.nodes = { primary: pg.node };
      cl.archive = { checkCron: null, roundTripTimeoutSeconds: 30 };
    });
    workers = await startWorkers(tc);
    c = await clients(tc);
  });
  afterAll(async () => {
    await workers?.stop();
    await c?.close();
    await pg?.stop();
  });

  it('enables archiving through the API, archives every segment under load, and the check is green with plausible lag', async () => {
    const first = await enable();
    const { stateDir, waitSeconds } = tc.config.clusters[tc.name]!.archive.agent;
    expect(first.started.archiveCommand).toBe(
      `${repoRoot}/bin/pgdr-archive --state ${stateDir} --cluster ${tc.name} --wait ${waitSeconds} -- ` +
        `${repoRoot}/bin/pgdr wal push --config ${tc.configPath} --cluster ${tc.name} %p`,
    );
    expect(first.result.restartNeeded).toEqual([]);
    expect(first.result.nodes[0].changed.map((ch: { name: string }) => ch.name)).toEqual(['archive_command', 'restore_command']);
    expect(await pg.sql(`select setting from pg_settings where name = 'archive_command'`)).toBe(first.started.archiveCommand);
    // A second call finds everything in place and changes nothing.
    expect((await enable()).result.nodes[0].changed).toEqual([]);

    const b = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    const { manifest } = await c.temporal.workflow.getHandle(b.body.workflowId).result();
    backupStartSegment = manifest.startWalSegment;

    // About 60 MB of WAL: several segments for the archiver.
    await pg.sql(`create table load(id bigserial primary key, at timestamptz not null default clock_timestamp(), pad text);
                  insert into load(pad) select repeat(md5(g::text), 16) from generate_series(1, 60000) g;`);
    const lastInsertAt = new Date(
      await pg.sql(`insert into load(pad) values ('last') returning to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`),
    );

    const ck = await check();
    if (!ck.ok) throw new Error(`expected a green check, got: ${ck.message}`);
    const r = ck.result;
    expect(r.problems).toEqual([]);
    expect(r.healthy).toBe(true);
    expect(r.roundTrip).toMatchObject({ ok: true });
    expect(r.continuity).toMatchObject({ fromBackup: manifest.id, fromSegment: manifest.startWalSegment, missingCount: 0, missing: [] });
    expect(r.continuity!.expected).toBeGreaterThanOrEqual(3);
    // Lag right after a forced switch: at most the configured 2 segments, and recent.
    expect(r.lag!.segments).toBeLessThanOrEqual(2);
    expect(r.lag!.seconds).toBeLessThan(120);

    // Every segment from the backup's start to the newest is an object in S3, with its sha256.
    const archived = new Set((await listArchivedWal({ config: tc.config, s3: c.s3 }, tc.name)).map((a) => a.name));
    const from = segmentNumber(manifest.startWalSegment);
    const to = segmentNumber(r.continuity!.lastSegment!);
    for (let s = from; s <= to; s++) expect(archived.has(segmentName(1, s))).toBe(true);

    // The recoverable window: from the backup's stop to (at least) our last insert.
    const w = await c.call('GET', `/api/v1/clusters/${tc.name}/recovery-window`);
    expect(w.status).toBe(200);
    expect(w.body.timelines).toHaveLength(1);
    expect(w.body.timelines[0].earliest).toEqual({ lsn: manifest.stopLsn, time: manifest.stopTime, backupId: manifest.id });
    expect(Date.parse(w.body.timelines[0].latest.time)).toBeGreaterThanOrEqual(lastInsertAt.getTime());

    const metrics = await c.text('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.contentType).toMatch(/^text\/plain/);
    expect(metrics.body).toContain(`pgdr_wal_check_healthy{cluster="${tc.name}"} 1`);
    expect(metrics.body).toContain(`pgdr_wal_missing_segments{cluster="${tc.name}"} 0`);
    expect(metrics.body).toMatch(new RegExp(`pgdr_recovery_window_end_timestamp_seconds\\{cluster="${tc.name}",timeline="1"\\} \\d+`));
  });

  it('turns red naming the failing segment when archive_command breaks, and green again once fixed', async () => {
    await pg.sql(`alter system set archive_command = 'false'`);
    await pg.sql(`select pg_reload_conf()`);
    await pg.sql(`insert into load(pad) select repeat('y', 400) from generate_series(1, 1000); select pg_switch_wal();`);
    const failedWal = await until('the archiver to fail', async () => {
      const [count, wal] = (await pg.sql(`select failed_count, coalesce(last_failed_wal, '') from pg_stat_archiver`)).split('|');
      return Number(count) > 0 && wal;
    });

    const red = await check();
    expect(red.ok).toBe(false);
    if (red.ok) return;
    expect(red.message).toContain(`archiving is failing: segment ${failedWal} failed`);
    expect(red.stored.healthy).toBe(false);
    expect(red.stored.problems[0]).toContain(failedWal);

    // The fix: pgdr sets its own archive_command again; the archiver catches up.
    const fixed = await enable();
    expect(fixed.result.nodes[0].changed.map((ch: { name: string }) => ch.name)).toEqual(['archive_command']);
    const green = await check();
    if (!green.ok) throw new Error(`expected a green check after the fix, got: ${green.message}`);
    expect(green.result.healthy).toBe(true);
    // The round trip waited for Postgres's own archiver, not only for the object in S3.
    expect(green.result.roundTrip).toMatchObject({ ok: true, archiverSeconds: expect.any(Number) });
    // The failures stay counted, but the archiver has succeeded since the last one.
    expect(green.result.archiver!.failedCount).toBeGreaterThanOrEqual(red.stored.archiver!.failedCount);
    expect(Date.parse(green.result.archiver!.lastArchivedAt!)).toBeGreaterThan(Date.parse(green.result.archiver!.lastFailedAt!));
    const archived = new Set((await listArchivedWal({ config: tc.config, s3: c.s3 }, tc.name)).map((a) => a.name));
    expect(archived.has(failedWal)).toBe(true);
  });

  it('reports exactly the segment deleted from S3 as missing', async () => {
    const victim = segmentName(1, segmentNumber(backupStartSegment) + 1);
    const object = (await listArchivedWal({ config: tc.config, s3: c.s3 }, tc.name)).find((a) => a.name === victim);
    expect(object).toBeDefined();
    await deleteKeys(c.s3, tc.config.storage.bucket, [object!.key]);

    const red = await check();
    expect(red.ok).toBe(false);
    if (red.ok) return;
    expect(red.stored.continuity).toMatchObject({ missingCount: 1, missing: [victim] });
    expect(red.message).toContain(`the first missing is ${victim}`);
    // Nothing past the gap is recoverable.
    expect(red.stored.window[0]!.latest).toEqual({ lsn: formatLsn(BigInt(segmentNumber(victim)) * 0x1000000n), time: null });
    const metrics = await c.text('GET', '/metrics');
    expect(metrics.body).toContain(`pgdr_wal_missing_segments{cluster="${tc.name}"} 1`);
    expect(metrics.body).toContain(`pgdr_wal_check_healthy{cluster="${tc.name}"} 0`);
  });
});
