/**
 * The node agent's archiver with the thin client as archive_command, on a Postgres server and a
 * MinIO of the test's own, with the agent as a real pgdr-worker process (PGDR_ROLE=agent) the
 * test can SIGKILL. After every step: each segment Postgres marked .done is in storage with the
 * sha256 of the file in pg_wal, and the archive has no gap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { ownMinio } from '../helpers/services.js';
import { killableWorker, type KillableWorker } from '../helpers/killableWorker.js';
import { until } from '../helpers/stack.js';
import { archiveCommands } from '../../config/archiveCommands.js';
import { createS3Client, listKeys } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { walFolder } from '../../adapters/catalogStore.js';
import { archiverStateKey } from '../../domain/walAgent.js';
import { segmentName, segmentNumber } from '../../domain/wal.js';

describe('the agent archiver behind archive_command', () => {
  let pg: Awaited<ReturnType<typeof ownPostgres>>;
  let minio: Awaited<ReturnType<typeof ownMinio>>;
  let tc: TestCluster;
  let agent: KillableWorker;
  let s3: S3Client;
  let stateDir: string;
  let first: string;

  const status = () => join(pg.dataDir, 'pg_wal', 'archive_status');
  const withSuffix = (suffix: string) =>
    readdirSync(status())
      .filter((f) => f.endsWith(suffix) && /^[0-9A-F]{24}\./.test(f))
      .map((f) => f.slice(0, 24))
      .sort();
  const marked = (name: string) => existsSync(join(stateDir, 'durable', name));

  /** n new segments: some rows, then a switch, n times. */
  async function burst(n: number): Promise<void> {
    for (let i = 0; i < n; i++)
      await pg.sql(`insert into t select g, md5(g::text) from generate_series(1, 20000) g; select pg_switch_wal()`);
  }

  /** Every segment Postgres counts as archived is in storage with the bytes of the file in pg_wal. */
  async function everyDoneIsStored(): Promise<number> {
    const done = withSuffix('.done');
    for (const name of done) {
      const local = createHash('sha256')
        .update(readFileSync(join(pg.dataDir, 'pg_wal', name)))
        .digest('hex');
      const key = `${walFolder(tc.config.storage, tc.name)}${name}.zst`;
      const head = await s3.send(new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: key })).catch((e: Error) => e);
      expect(head, `${name} is .done but not in storage`).not.toBeInstanceOf(Error);
      expect((head as { Metadata?: Record<string, string> }).Metadata?.sha256, `${name}: stored sha256`).toBe(local);
    }
    return done.length;
  }

  /** The archive holds every segment from the first of the test to the newest .done, and nothing is .ready. */
  async function drainedWithoutGap(): Promise<void> {
    await until('every segment archived', async () => withSuffix('.ready').length === 0, 120_000, 250);
    const stored = new Set(
      (await listKeys(s3, tc.config.storage.bucket, walFolder(tc.config.storage, tc.name))).map((k) =>
        k.key.split('/').pop()!.slice(0, 24),
      ),
    );
    const last = withSuffix('.done').at(-1)!;
    const missing: string[] = [];
    for (let n = segmentNumber(first); n <= segmentNumber(last); n++) if (!stored.has(segmentName(1, n))) missing.push(segmentName(1, n));
    expect(missing).toEqual([]);
  }

  beforeAll(async () => {
    pg = await ownPostgres();
    minio = await ownMinio('archiver');
    tc = testCluster(
      'walagt',
      (cl) => {
        cl.nodes = { primary: pg.node };
        // zstd -12 keeps each upload busy long enough that a kill lands with segments in flight;
        // archive_command waits up to 60 s on a live agent (a loaded machine compresses slowly)
        // before it pushes directly, which the first two tests must not see.
        cl.archive = { ...cl.archive, compressionLevel: 12, agent: { ...cl.archive?.agent, waitSeconds: 60 } };
      },
      (raw) => {
        raw.storage.endpoint = minio.endpoint;
      },
    );
    // No checkpoint recycles a segment under the test's comparisons.
    await pg.start(archiveCommands(tc.config, tc.name));
    await pg.sql(`alter system set max_wal_size = '4GB'; alter system set checkpoint_timeout = '1h'; select pg_reload_conf()`);
    await pg.sql(`create table t (id int, pad text)`);
    s3 = createS3Client(tc.config.storage, createSecretReader());
    const agentState = tc.config.clusters[tc.name]!.archive.agent.stateDir;
    stateDir = join(agentState, tc.name, archiverStateKey(pg.dataDir));
    agent = killableWorker(tc.configPath, { PGDR_ROLE: 'agent' });
    first = (await pg.sql(`select pg_walfile_name(pg_current_wal_lsn())`)).trim();
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    if (stateDir) rmSync(join(stateDir, '..'), { recursive: true, force: true });
    s3?.destroy();
    await pg?.stop();
    await minio?.close();
  });

  it('pushes ready segments ahead and archive_command takes its durable markers', async () => {
    await agent.start();
    await until('the agent beating', async () => existsSync(join(stateDir, 'heartbeat')), 30_000);
    // Archived before the agent ran (set-up WAL, pushed directly): not this test's to judge.
    const before = new Set(withSuffix('.done'));
    await burst(6);
    await drainedWithoutGap();
    const done = withSuffix('.done').filter((n) => !before.has(n));
    expect(done.length).toBeGreaterThanOrEqual(6);
    // Each was answered from a marker of the agent's (a direct push writes none).
    expect(done.filter((n) => !marked(n))).toEqual([]);
    expect(await everyDoneIsStored()).toBe(withSuffix('.done').length);
    // Pushed by the agent's pusher threads, not on its event loop.
    expect(agent.output()).toMatch(/up to \d+ uploads at once on [1-9]\d* pusher threads?/);
  }, 180_000);

  it('SIGKILLed with segments in flight: nothing is .done that is not stored, the thin client pushes itself, and the agent resumes', async () => {
    const before = new Set(withSuffix('.done'));
    // Enough WAL that the kill lands mid-burst: segments ready and not yet archived.
    const writing = burst(12);
    await until('segments waiting for the archiver', async () => withSuffix('.ready').length >= 2, 60_000, 20);
    await agent.kill();
    await writing;
    const waitingAtKill = withSuffix('.ready').length;
    expect(waitingAtKill, 'segments were still to archive after the kill').toBeGreaterThanOrEqual(2);
    const doneAtKill = await everyDoneIsStored();

    // No agent: archive_command notices the silent heartbeat and pushes directly; nothing waits for the agent.
    await burst(2);
    await drainedWithoutGap();
    const direct = withSuffix('.done').filter((n) => !before.has(n) && !marked(n));
    expect(direct.length).toBeGreaterThanOrEqual(2);
    expect(await everyDoneIsStored()).toBe(withSuffix('.done').length);

    // Back again: the agent answers the next segments.
    await agent.start();
    const prior = new Set(withSuffix('.done'));
    await burst(3);
    await drainedWithoutGap();
    const after = withSuffix('.done').filter((n) => !prior.has(n));
    expect(after.length).toBeGreaterThanOrEqual(3);
    expect(after.filter((n) => !marked(n))).toEqual([]);
    expect(await everyDoneIsStored()).toBe(withSuffix('.done').length);
    console.log(
      `FAULT | node agent SIGKILLed with WAL segments in flight (agent archiver) | ${waitingAtKill} segments still .ready at the kill; all ${doneAtKill} .done segments in storage with their local sha256; archive_command pushed ${direct.length} directly while no agent beat; the restarted agent answered the next ${after.length}; no gap`,
    );
  }, 300_000);

  it('storage stopped mid-burst: segments stay .ready with the error noted, nothing is lost, and they drain when it returns', async () => {
    // An agent of its own, whatever the test before left.
    await agent.stop();
    await agent.start();
    const before = new Set(withSuffix('.done'));
    await minio.stop();
    await burst(4);
    await until(
      'archive_command failing on the outage',
      async () => Number(await pg.sql('select failed_count from pg_stat_archiver')) > 0,
      180_000,
      500,
    );
    const waiting = withSuffix('.ready');
    expect(waiting.length).toBeGreaterThanOrEqual(4);
    // The agent says why, where the client prints it into the Postgres log.
    const note = await until('the agent noting the failure', async () => {
      const f = join(stateDir, 'failed', waiting[0]!);
      return existsSync(f) && readFileSync(f, 'utf8');
    });
    expect(note).toMatch(/ECONNREFUSED|unreachable|connect/i);
    expect(withSuffix('.done').filter((n) => !before.has(n))).toEqual([]);

    await minio.start();
    const back = Date.now();
    // Wake Postgres's archiver from its back-off sleep (a new segment notifies it).
    await burst(1);
    await drainedWithoutGap();
    expect(await everyDoneIsStored()).toBe(withSuffix('.done').length);
    console.log(
      `FAULT | storage stopped mid WAL burst (agent archiver) | ${waiting.length} segments stayed .ready, none .done; archive_command waited, said the agent's error (${note.trim().slice(0, 80)}) and pushed directly, failing too until storage returned; all drained with no gap ${((Date.now() - back) / 1000).toFixed(1)} s after storage returned`,
    );
  }, 300_000);
});
