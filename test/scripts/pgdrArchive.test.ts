/**
 * bin/pgdr-archive, archive_command's thin client, against a state directory this test lays
 * out the way the agent's archiver does (domain/walAgent.ts: the same key and fingerprint). The
 * archiver itself, with Postgres and storage, is test/adapters/walArchiver.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiverStateKey, walFingerprint } from '../../domain/walAgent.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import { fallbackLog as readFallbackLog, recordingFallback, wake } from '../helpers/thinClients.js';

const CLIENT = join(repoRoot, 'bin', 'pgdr-archive');

const SEG = '000000010000000000000003';

describe('pgdr-archive (the thin client)', () => {
  let root: string;
  let data: string;
  let state: string;
  let node: string;
  let fallbackLog: string;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'pgdr-archive-'));
    data = join(root, 'data');
    mkdirSync(join(data, 'pg_wal'), { recursive: true });
    writeFileSync(join(data, 'pg_wal', SEG), Buffer.alloc(1024, 7));
    state = join(root, 'state');
    node = join(state, 'c1', archiverStateKey(realpathSync(data)));
    for (const sub of ['want', 'durable', 'failed']) mkdirSync(join(node, sub), { recursive: true });
    await execa('mkfifo', [join(node, 'wake')]);
    writeFileSync(join(node, 'heartbeat'), '');
    fallbackLog = join(root, 'fallback.log');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** archive_command as Postgres runs it: in the data directory, %p relative to it. */
  function archive(name = SEG, wait = 30) {
    const fallback = recordingFallback(fallbackLog);
    return execa(CLIENT, ['--state', state, '--cluster', 'c1', '--wait', String(wait), '--', ...fallback, `pg_wal/${name}`], {
      cwd: data,
      reject: false,
    });
  }
  const fingerprint = () => walFingerprint(statSync(join(data, 'pg_wal', SEG), { bigint: true }));
  const fellBack = () => readFallbackLog(fallbackLog);

  it('answers at once when the agent marked this very file durable, without pushing itself', async () => {
    writeFileSync(join(node, 'durable', SEG), `${fingerprint()} pgdr/c1/wal/${SEG}.zst\n`);
    const res = await archive();
    expect(res.exitCode, res.stderr).toBe(0);
    expect(fellBack()).toBe('');
  });

  it('does not take a marker of another file by the same name: it asks, waits, and takes the answer', async () => {
    // A marker left from an older file of that name (another inode or mtime) is no answer.
    writeFileSync(join(node, 'durable', SEG), `1:2:1024:1.000000000 pgdr/c1/wal/${SEG}.zst\n`);
    const run = archive();
    const asked = join(node, 'want', SEG);
    for (let i = 0; i < 100 && !existsSync(asked); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(asked)).toBe(true);
    writeFileSync(join(node, 'durable', SEG), `${fingerprint()} pgdr/c1/wal/${SEG}.zst\n`);
    wake(join(node, 'wake'), SEG);
    const res = await run;
    expect(res.exitCode, res.stderr).toBe(0);
    expect(fellBack()).toBe('');
  });

  it('pushes directly when no agent serves the data directory, or its heartbeat is old', async () => {
    rmSync(join(node, 'heartbeat'));
    expect((await archive()).exitCode).toBe(0);
    expect(fellBack()).toBe(`fallback pg_wal/${SEG}\n`);

    writeFileSync(join(node, 'heartbeat'), '');
    const old = new Date(Date.now() - 30_000);
    utimesSync(join(node, 'heartbeat'), old, old);
    expect((await archive()).exitCode).toBe(0);
    expect(fellBack()).toBe(`fallback pg_wal/${SEG}\n`.repeat(2));
  });

  it('pushes directly once the agent stops beating while it waits', async () => {
    const run = archive();
    await new Promise((r) => setTimeout(r, 500));
    const old = new Date(Date.now() - 30_000);
    utimesSync(join(node, 'heartbeat'), old, old);
    const res = await run;
    expect(res.exitCode, res.stderr).toBe(0);
    expect(fellBack()).toBe(`fallback pg_wal/${SEG}\n`);
  });

  it("pushes directly after --wait seconds on a live agent that has not archived the file, saying the agent's last error", async () => {
    writeFileSync(join(node, 'failed', SEG), 'connect ECONNREFUSED 127.0.0.1:9\n');
    const beat = setInterval(() => utimesSync(join(node, 'heartbeat'), new Date(), new Date()), 500);
    try {
      const res = await archive(SEG, 2);
      expect(res.exitCode).toBe(0);
      expect(res.stderr).toBe(
        `pgdr-archive: the agent has not archived ${SEG} within 2 s (connect ECONNREFUSED 127.0.0.1:9); pushing it directly`,
      );
      expect(fellBack()).toBe(`fallback pg_wal/${SEG}\n`);
    } finally {
      clearInterval(beat);
    }
  });

  it('tells the agent a client is here on every call, also when answered at once', async () => {
    writeFileSync(join(node, 'durable', SEG), `${fingerprint()} pgdr/c1/wal/${SEG}.zst\n`);
    expect((await archive()).exitCode).toBe(0);
    expect(readFileSync(join(node, 'asked'), 'utf8')).toBe(`${SEG}\n`);
  });

  it('sends history, backup-history and .partial files straight to the direct push', async () => {
    for (const name of ['00000002.history', `${SEG}.partial`, `${SEG}.00000028.backup`]) {
      writeFileSync(join(data, 'pg_wal', name), 'x');
      expect((await archive(name)).exitCode).toBe(0);
    }
    expect(fellBack()).toBe(['00000002.history', `${SEG}.partial`, `${SEG}.00000028.backup`].map((n) => `fallback pg_wal/${n}\n`).join(''));
  });

  it('refuses bad usage with exit 2, naming what it got', async () => {
    const bad = await execa(CLIENT, ['--state', state, '--wait', 'soon', '--', 'true', 'x'], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--cluster "", --wait "soon"');
    const unknown = await execa(CLIENT, ['--stat', state], { reject: false });
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown option "--stat"');
  });
});
