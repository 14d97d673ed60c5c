/**
 * Faults during a restore, on a Postgres server of the test's own: the destination's disk fills
 * up, and an archived WAL segment the restore needs is corrupt. Each must end in a clear
 * failure naming the cause, with nothing left behind and the source untouched.
 */
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { WorkflowFailedError } from '@temporalio/client';
import { pitrSource, type PitrSource } from '../helpers/restore.js';
import { switchAndArchive } from '../helpers/ticks.js';
import { findArchived } from '../../adapters/walStore.js';
import type { RestoreReport } from '../../domain/restore.js';
import { mountSmallFs } from './smallFs.js';
import { until } from '../helpers/stack.js';
import { scheduledActivityTypes } from '../helpers/history.js';

/** The whole cause chain of a failed workflow, one message per line. */
function chain(err: unknown): string {
  const out: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) out.push(e.message ?? String(e));
  return out.join('\n');
}

/** The innermost failure's type (the pgdr error class), e.g. WalCorruptError. */
function innerType(err: unknown): string {
  let type = 'unknown type';
  for (let e = err as { type?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.type) type = e.type;
  return type;
}

/** No server answers on the port and nothing is left running in the directory. */
async function nothingRuns(src: PitrSource, dataDir: string, port: number | undefined): Promise<void> {
  expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
  if (port) await expect(src.pgs.sqlAt(port, 'select 1')).rejects.toThrow();
}

describe('restore faults', () => {
  let src: PitrSource;

  beforeAll(async () => {
    // The small filesystem is mounted under the temp directory: a restore root of its own.
    src = await pitrSource('fltrst', {
      tickSeconds: 4,
      adjust: (cl) => void ((cl.restore as Record<string, unknown>).allowedRoots = [tmpdir()]),
    });
  }, 300_000);
  afterAll(async () => src?.close());

  it('fails clearly when the destination disk fills up, removes the partial directory and leaves the source untouched', async () => {
    const { fs, reasons } = await mountSmallFs(8);
    // No skip: a machine that cannot mount the small filesystem fails here, saying why, rather than hiding the fault.
    if (!fs) throw new Error(`the disk-full fault needs a small filesystem, and none can be mounted here: ${reasons.join('; ')}`);
    const t0 = Date.now();
    try {
      const before = await src.rows(src.pgs.port);
      const dataDir = join(fs.dir, 'data');
      const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, {
        target: { latest: true },
        destination: { dataDir },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const handle = src.c.temporal.workflow.getHandle(res.body.workflowId);
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const msg = chain(err);
      console.log(`disk-full failure chain (${fs.kind}, ${fs.sizeMiB} MiB, ${((Date.now() - t0) / 1000).toFixed(1)} s):\n${msg}`);
      expect(msg).toMatch(/No space left on device/);
      expect((await handle.describe()).status.name).toBe('FAILED');

      // The partial directory is gone; the small filesystem holds nothing of it.
      expect(existsSync(dataDir)).toBe(false);
      expect(readdirSync(fs.dir).filter((e) => e !== 'lost+found')).toEqual([]);
      await nothingRuns(src, dataDir, res.body.destination.port);
      // No report counts it as a restore.
      const listed = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/restores`);
      expect(listed.body.restores.map((r: RestoreReport) => r.workflowId)).not.toContain(res.body.workflowId);
      // The source: still a running primary with every row.
      expect(await src.rows(src.pgs.port)).toBe(before);
      expect(before).toBe(`${src.ticks.length}|1|${src.ticks.length}`);
      expect((await src.pgs.sql('select pg_is_in_recovery()')).trim()).toBe('f');
      console.log(
        `FAULT | disk full on the restore destination (${fs.kind} ${fs.sizeMiB} MiB) | restore failed in ${((Date.now() - t0) / 1000).toFixed(1)} s (${innerType(err)}: No space left on device); partial directory removed; source untouched (${before})`,
      );
      // A full disk is not a corrupt backup: saying so sends the operator to discard a good one.
      expect(msg, 'a full destination disk must not be reported as a corrupt backup').not.toMatch(/is corrupt/);
    } finally {
      await fs.unmount();
    }
  }, 300_000);

  /**
   * An archived WAL segment after the backup that recovery to the latest commit must replay, and a
   * corrupt copy of it: one in the middle of the ticks, or (`newestCommit`) the newest archived
   * segment, holding a commit made just now: the one the pre-flight reads first for the newest
   * commit. (A middle segment is read by the pre-flight only when no later segment holds a commit,
   * and autovacuum's commits decide that, more so on a loaded machine.)
   */
  async function walToCorrupt(
    segment: 'middle' | 'newestCommit',
  ): Promise<{ seg: string; key: string; put(which: 'corrupt' | 'original'): Promise<void> }> {
    const { config } = src.tc;
    const bucket = config.storage.bucket;
    let commitLsn = src.ticks[Math.max(1, Math.floor(src.ticks.length / 2)) - 1]!.lsnAfter;
    if (segment === 'newestCommit') {
      // txid_current() takes an xid, so its transaction writes a commit record. That commit wrote
      // nothing else, so Postgres does not flush it at once: pg_current_wal_lsn() (the write
      // position) can still stand before it, at the previous segment's end on a loaded machine.
      // The insert position is past it (pg_walfile_name names the segment holding the byte before
      // the LSN: the commit's).
      await src.db.query(`select txid_current()`);
      commitLsn = (await src.db.query(`select pg_current_wal_insert_lsn() as l`)).rows[0].l as string;
    }
    const switched = await switchAndArchive(src.db);
    const seg = (await src.db.query(`select pg_walfile_name($1::pg_lsn) as s`, [commitLsn])).rows[0].s as string;
    // The premise of the pre-flight case: the commit is in the newest archived segment.
    if (segment === 'newestCommit') expect(seg, 'the segment holding the commit made just now').toBe(switched);
    expect(seg > src.backup.startWalSegment, `${seg} must come after the backup's ${src.backup.startWalSegment}`).toBe(true);
    const key = await findArchived({ config, s3: src.c.s3 }, src.tc.name, seg);
    expect(key).toBeTruthy();
    // Same metadata (the recorded sha256), other content: one byte of the WAL flipped, recompressed.
    const head = await src.c.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key! }));
    const got = await src.c.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key! }));
    const original = Buffer.from(await got.Body!.transformToByteArray());
    const zst = key!.endsWith('.zst');
    const wal = zst
      ? Buffer.from((await execa('zstd', ['-q', '-d', '-c'], { input: original, encoding: 'buffer' })).stdout)
      : Buffer.from(original);
    wal.writeUInt8(wal.readUInt8(8192 + 100) ^ 0xff, 8192 + 100);
    const corrupt = zst ? Buffer.from((await execa('zstd', ['-q', '-c'], { input: wal, encoding: 'buffer' })).stdout) : wal;
    return {
      seg,
      key: key!,
      put: async (which) => {
        await src.c.s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key!,
            Body: which === 'corrupt' ? corrupt : original,
            Metadata: head.Metadata ?? {},
          }),
        );
      },
    };
  }

  it('fails replay on a WAL segment corrupted after the pre-flight, naming the object, without promoting or leaving an instance', async () => {
    const t0 = Date.now();
    const w = await walToCorrupt('middle');
    const before = await src.rows(src.pgs.port);
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { latest: true }, action: 'promote' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    src.made.push(res.body.destination.dataDir);
    const handle = src.c.temporal.workflow.getHandle(res.body.workflowId);
    // Corrupt it once the workflow's own pre-flight has passed (it prepares the destination),
    // before the instance starts. Read from the history: a query would wait for a loaded worker.
    let step = '';
    for (let i = 0; ; i++) {
      const scheduled = await scheduledActivityTypes(handle);
      step = scheduled.at(-1) ?? '';
      if (scheduled.includes('startRestoredInstance') || i > 6000)
        throw new Error(`missed the window between pre-flight and start: activities ${scheduled.join(', ')}`);
      if (scheduled.includes('prepareDestination')) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await w.put('corrupt');
    const err = await handle.result().catch((e: unknown) => e);
    await w.put('original');
    expect(err, 'a restore through a corrupt WAL segment must not succeed').toBeInstanceOf(WorkflowFailedError);
    const msg = chain(err);
    console.log(`corrupt-WAL replay failure (corrupted after activity ${step}, ${((Date.now() - t0) / 1000).toFixed(1)} s):\n${msg}`);
    // Never promoted, nothing left running, its directory removed, no report.
    await nothingRuns(src, res.body.destination.dataDir, res.body.destination.port);
    expect(existsSync(res.body.destination.dataDir)).toBe(false);
    const listed = await src.c.call('GET', `/api/v1/clusters/${src.tc.name}/restores`);
    expect(listed.body.restores.map((r: RestoreReport) => r.workflowId)).not.toContain(res.body.workflowId);
    expect(await src.rows(src.pgs.port)).toBe(before);
    console.log(
      `FAULT | archived WAL segment ${w.seg} corrupted after the pre-flight | restore failed in ${((Date.now() - t0) / 1000).toFixed(1)} s (${innerType(err)}), not promoted, no instance left, directory removed; names the object: ${msg.includes(w.key)}`,
    );
    expect(msg).toContain(w.key);
    expect(msg).toMatch(/is corrupt/);
  }, 300_000);

  it('refuses in the pre-flight to restore through a corrupted WAL segment, naming the object, and starts nothing', async () => {
    const t0 = Date.now();
    const w = await walToCorrupt('newestCommit');
    await w.put('corrupt');
    const before = await src.rows(src.pgs.port);
    const existing = existsSync(src.restoreDir) ? readdirSync(src.restoreDir) : [];
    // Runs that did work: a refused run ends failed with its refusal once the API has the answer.
    const working = `WorkflowId STARTS_WITH "pitrRestore/${src.tc.name}/" AND ExecutionStatus != 'Failed'`;
    const started = (await src.c.temporal.workflow.count(working)).count;
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { latest: true } });
    if (res.status === 202) src.made.push(res.body.destination.dataDir);
    const msg = String(res.body?.error?.message ?? JSON.stringify(res.body));
    console.log(`corrupt-WAL pre-flight answer (${((Date.now() - t0) / 1000).toFixed(1)} s): ${res.status} ${JSON.stringify(res.body)}`);
    console.log(
      `FAULT | archived WAL segment ${w.seg} corrupt before the restore | API answered ${res.status} ${res.body?.error?.code ?? ''} in ${((Date.now() - t0) / 1000).toFixed(1)} s; names the object: ${msg.includes(w.key)}`,
    );
    // Nothing started or created, the source untouched.
    await until(
      'the refused run to close',
      async () =>
        (await src.c.temporal.workflow.count(`WorkflowId STARTS_WITH "pitrRestore/${src.tc.name}/" AND ExecutionStatus = 'Running'`))
          .count === 0,
      30_000,
    );
    expect((await src.c.temporal.workflow.count(working)).count).toBe(started);
    expect(existsSync(src.restoreDir) ? readdirSync(src.restoreDir) : []).toEqual(existing);
    expect(await src.rows(src.pgs.port)).toBe(before);
    // A refusal that says what is wrong and where: 422, naming the corrupt object.
    expect({ status: res.status, code: res.body?.error?.code, namesObject: msg.includes(w.key) }).toEqual({
      status: 422,
      code: expect.stringMatching(/WAL_CORRUPT|RESTORE_PREFLIGHT_FAILED/),
      namesObject: true,
    });
  }, 300_000);
});
