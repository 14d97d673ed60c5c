/**
 * The primary crashes (pg_ctl stop -m immediate) while pg_basebackup streams from it: the
 * backup fails clearly, nothing is listed as good and no partial object stays in storage; once
 * the server is back, the next backup takes the free cluster lock and succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgresWithBigTable, slowBackups } from '../helpers/postgres.js';
import { until } from '../helpers/stack.js';
import { runTool } from '../../adapters/gateway.js';
import { listKeys } from '../../adapters/storage.js';
import { lockHolder } from '../../adapters/temporal.js';
import type { BackupManifest } from '../../domain/catalog.js';

/** The whole cause chain of a failed workflow, one message per line. */
function chain(err: unknown): string {
  const out: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) out.push(e.message ?? String(e));
  return out.join('\n');
}

describe('backup faults', () => {
  let pgs: Awaited<ReturnType<typeof ownPostgresWithBigTable>>;
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>>;
  let c: Awaited<ReturnType<typeof clients>>;

  beforeAll(async () => {
    pgs = await ownPostgresWithBigTable();
    tc = testCluster('fltbk', slowBackups(pgs));
    workers = await startWorkers(tc);
    c = await clients(tc);
  }, 300_000);
  afterAll(async () => {
    await workers?.stop();
    await c?.close();
    await pgs?.stop();
  });

  it('fails clearly when the primary crashes mid-stream, lists nothing as good, and the next backup succeeds', async () => {
    const t0 = Date.now();
    const rowsBefore = (await pgs.sql('select count(*) from big')).trim();
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const handle = c.temporal.workflow.getHandle(res.body.workflowId);

    // Wait for bytes to flow from pg_basebackup, then crash the server under it.
    let streamedBytes = 0;
    await until(
      'pg_basebackup to stream bytes',
      async () => {
        const d = await handle.describe();
        if (d.status.name !== 'RUNNING') throw new Error(`backup ended before the crash: ${d.status.name}`);
        const hb = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'uploadBaseBackup')?.heartbeatDetails?.payloads?.[0]?.data;
        streamedBytes = hb ? Number(JSON.parse(Buffer.from(hb).toString()).bytes) : 0;
        // Bytes in uploadBaseBackup's heartbeat: streaming (read from the server, not a query the loaded worker answers).
        return streamedBytes > 0;
      },
      180_000,
      200,
    );
    await runTool({
      tool: 'pg_ctl',
      binDir: pgs.layout.pgBin,
      args: ['-D', pgs.dataDir, '-m', 'immediate', '-w', 'stop'],
      osUser: pgs.layout.pgUser,
    });
    const crashedAt = Date.now();

    const err = await handle.result().catch((e: unknown) => e);
    expect(err, 'a backup whose source crashed mid-stream must not succeed').toBeInstanceOf(WorkflowFailedError);
    expect((await handle.describe()).status.name).toBe('FAILED');
    const msg = chain(err);
    const failedAfter = ((Date.now() - crashedAt) / 1000).toFixed(1);
    console.log(`primary-crash failure chain (crash after ${streamedBytes} bytes streamed, failed ${failedAfter} s later):\n${msg}`);
    // Clear: it names the tool or the unreachable server, not a generic timeout.
    expect(msg).toMatch(/pg_basebackup failed|cannot connect to node "primary"/);

    // Nothing listed as good, no partial object left, the lock free.
    const listed = (await c.call('GET', `/api/v1/clusters/${tc.name}/backups`)).body.backups as { id: string; status: string }[];
    expect(listed.filter((b) => b.status === 'good')).toEqual([]);
    const keys = (await listKeys(c.s3, tc.config.storage.bucket, `${tc.config.storage.prefix}/`)).map((o) => o.key);
    expect(keys.filter((k) => k.includes('/base.tar'))).toEqual([]);
    expect(await until('the lock to be released', async () => (await lockHolder(c.temporal, tc.name)) === null)).toBe(true);

    // The server comes back (crash recovery) with every row; the next backup is not blocked.
    await pgs.start();
    expect((await pgs.sql('select count(*) from big')).trim()).toBe(rowsBefore);
    const next = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(next.status, JSON.stringify(next.body)).toBe(202);
    const { manifest } = (await c.temporal.workflow.getHandle(next.body.workflowId).result()) as { manifest: BackupManifest };
    expect(manifest).toMatchObject({ status: 'good', verification: { ok: true } });
    const after = (await c.call('GET', `/api/v1/clusters/${tc.name}/backups`)).body.backups as { id: string; status: string }[];
    expect(after.filter((b) => b.status === 'good').map((b) => b.id)).toEqual([manifest.id]);
    let failedType = 'unknown type';
    for (let e = err as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.type) failedType = e.type;
    const reason = msg
      .split('\n')
      .filter((l) => !l.startsWith('HINT:'))
      .at(-1)!;
    console.log(
      `FAULT | primary crash mid-backup (pg_ctl stop -m immediate after ${streamedBytes} bytes) | backup failed ${failedAfter} s after the crash (${failedType}: ${reason.slice(0, 160)}); no good or partial backup listed; lock free; next backup ${manifest.id} good (${((Date.now() - t0) / 1000).toFixed(1)} s in all)`,
    );
  }, 600_000);
});
