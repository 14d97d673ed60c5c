/**
 * Clusters made with `initdb --wal-segsize=64` and `--wal-segsize=1`, their WAL moved with
 * pg_resetwal to just before a log-id boundary (a 64 MiB cluster has 64 segments per 4 GiB, a
 * 1 MiB one 4096), so that the backup's WAL crosses it: segment names computed with the wrong
 * size are wrong there. Backup, WAL check, PITR, a drill (64 MiB) and a deleted segment named
 * exactly, all through the API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { switchAndArchive, timeAfter } from '../helpers/ticks.js';
import { runTool } from '../../adapters/gateway.js';
import { deleteKeys } from '../../adapters/storage.js';
import { listArchivedWal } from '../../adapters/walStore.js';
import { segmentName, segmentNumber } from '../../domain/wal.js';
import { formatLsn } from '../../domain/lsn.js';
import type { WalCheckResult } from '../../domain/walCheck.js';
import type { DrillReport } from '../../domain/drill.js';
import { rootMessage } from '../../workflows/probe.js';

const MiB = 1024 * 1024;

describe.each([
  { mib: 64, resetTo: '00000001000000010000003E', nextWal: '00000001000000010000003F', drill: true },
  { mib: 1, resetTo: '000000010000000100000FFE', nextWal: '000000010000000100000FFF', drill: false },
])('a cluster with $mib MiB WAL segments', ({ mib, resetTo, nextWal, drill }) => {
  const bytes = mib * MiB;
  let src: PitrSource;
  const sql = async (text: string) => (await src.pgs.sql(text)).trim();
  const archivedOnTl1 = async () =>
    (await listArchivedWal({ config: src.tc.config, s3: src.c.s3 }, src.tc.name)).filter((a) => /^00000001[0-9A-F]{16}$/.test(a.name));
  const check = async (): Promise<{ ok: boolean; message: string; result: WalCheckResult }> => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/wal-archive/check`, {});
    expect(res.status).toBe(202);
    const outcome = await src.c.temporal.workflow
      .getHandle(res.body.workflowId)
      .result()
      .then(
        () => ({ ok: true, message: '' }),
        (err: unknown) => ({ ok: false, message: rootMessage(err) }),
      );
    const stored = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/wal-archive`);
    expect(stored.body.workflowId).toBe(res.body.workflowId);
    return { ...outcome, result: stored.body };
  };

  beforeAll(async () => {
    src = await pitrSource(`seg${mib}`, {
      initdbArgs: [`--wal-segsize=${mib}`],
      tickSeconds: 6,
      // WAL continues two segments before a log-id boundary: the backup starts in the last one
      // (pg_backup_start switches to a fresh segment) and its WAL crosses the boundary.
      afterStart: async (pgs) => {
        const ctl = (args: string[]) =>
          runTool({ tool: 'pg_ctl', binDir: pgs.layout.pgBin, args: ['-D', pgs.dataDir, '-w', ...args], osUser: pgs.layout.pgUser });
        await ctl(['-m', 'fast', 'stop']);
        await runTool({ tool: 'pg_resetwal', binDir: pgs.layout.pgBin, args: ['-l', resetTo, pgs.dataDir], osUser: pgs.layout.pgUser });
        await ctl(['-l', join(pgs.layout.logs, 'postgres', `own-${pgs.port}-primary.log`), 'start']);
      },
      ...(drill
        ? {
            adjust: (cl: Record<string, any>) => {
              cl.drill = {
                cron: null,
                largestTables: 3,
                assertions: [{ name: 'ticks restored', sql: 'select count(*) from ticks', expect: '> 0' }],
              };
            },
          }
        : {}),
    });
  }, 300_000);
  afterAll(async () => src?.close());

  it('records the segment size and the server version in the manifest, and names the start segment as the server does', async () => {
    expect(await sql('show wal_segment_size')).toBe(`${mib}MB`);
    expect(src.backup.segmentBytes).toBe(bytes);
    expect(src.backup.pgVersion).toBe(Number(await sql('show server_version_num')));
    expect(src.backup.startWalSegment).toBe(nextWal);
    expect(src.backup.startWalSegment).toBe(await sql(`select pg_walfile_name('${src.backup.startLsn}')`));
    // The ticks' WAL lies past the boundary: the next log id.
    expect(await sql(`select pg_walfile_name('${src.ticks.at(-1)!.lsnAfter}')`)).toBe(
      segmentName(1, segmentNumber(nextWal, bytes) + 1, bytes),
    );
    expect(segmentName(1, segmentNumber(nextWal, bytes) + 1, bytes)).toBe('000000010000000200000000');
  });

  it('checks the archive green across the boundary, counting exactly the segments archived since the backup', async () => {
    const { ok, message, result: r } = await check();
    expect(ok, message).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.segmentBytes).toBe(bytes);
    const last = await sql('select last_archived_wal from pg_stat_archiver');
    expect(last.slice(8, 16)).toBe('00000002');
    const archived = (await archivedOnTl1()).map((a) => a.name).filter((n) => n >= nextWal && n <= last);
    expect(r.continuity).toMatchObject({
      fromBackup: src.backup.id,
      fromSegment: nextWal,
      lastSegment: last,
      missingCount: 0,
      missing: [],
    });
    expect(r.continuity!.expected).toBe(archived.length);
    expect(archived).toEqual(Array.from({ length: archived.length }, (_, i) => segmentName(1, segmentNumber(nextWal, bytes) + i, bytes)));
    // The window ends at the newest commit, past the boundary.
    expect(Date.parse(r.window[0]!.latest!.time!)).toBeGreaterThanOrEqual(Date.parse(src.ticks.at(-1)!.before));
  });

  it('restores to a time in the middle with exact rows, the copy keeping the segment size', async () => {
    const k = Math.floor(src.ticks.length / 2);
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { time: timeAfter(src.ticks, k) } }, src.made);
    expect(await src.rows(report.destination.port)).toBe(`${k}|1|${k}`);
    expect((await src.pgs.sqlAt(report.destination.port, 'show wal_segment_size')).trim()).toBe(`${mib}MB`);
    const latest = await restoreAndWait(src.c, src.tc.name, { target: { latest: true } }, src.made);
    const n = src.ticks.length;
    expect(await src.rows(latest.report.destination.port)).toBe(`${n}|1|${n}`);
  });

  // One drill is enough for both sizes (a drill is a restore plus checks): the 64 MiB cluster's.
  if (drill)
    it('drills: the newest backup restores into a scratch instance with every row, and is torn down', async () => {
      const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, {});
      expect(res.status).toBe(202);
      const report = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as DrillReport;
      expect(report.failures).toEqual([]);
      const r = report.restores[0]!;
      expect(r).toMatchObject({ backupId: src.backup.id, error: null, teardown: { removed: true } });
      expect(r.checks.find((c) => c.name === 'ticks restored')!.actual).toBe(String(src.ticks.length));
    });

  it('names exactly the segment deleted past the boundary as missing, and the window ends where it begins', async () => {
    const victim = '000000010000000200000000';
    // A segment after it, whatever else wrote WAL since the last switch: the victim is then a gap, not the archive's end.
    await sql(`create table if not exists after_victim(i int); insert into after_victim values (1)`);
    await switchAndArchive(src.db);
    expect((await archivedOnTl1()).at(-1)!.name > victim).toBe(true);
    const object = (await archivedOnTl1()).find((a) => a.name === victim);
    expect(object).toBeDefined();
    await deleteKeys(src.c.s3, src.tc.config.storage.bucket, [object!.key]);
    const red = await check();
    expect(red.ok).toBe(false);
    expect(red.result.continuity).toMatchObject({ missingCount: 1, missing: [victim] });
    expect(red.message).toContain(`the first missing is ${victim}`);
    expect(red.result.window[0]!.latest).toEqual({ lsn: formatLsn(0x200000000n), time: null });
  });
});
