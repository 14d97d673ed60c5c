/**
 * The restore prefetcher (adapters/walPrefetcher.ts) on real storage, with the real thin client
 * (bin/pgdr-restore) where Postgres would run it: the backup's first segment is fetched from the
 * copy's backup_label before anything asks for it, and a timeline history file is looked up by
 * the prefetcher at the time of each request (present: handed over; absent: "not in the archive"
 * without the direct fetch; created after an earlier "absent": found). A replaying copy with the
 * prefetcher is in test/workflows/pitrRestore.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { fallbackLog, recordingFallback } from '../helpers/thinClients.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { pushWal } from '../../adapters/walStore.js';
import { ensurePrefetcher, stopPrefetcher } from '../../adapters/walPrefetcher.js';
import { prefetchSpool } from '../../domain/walAgent.js';
import { repoRoot } from '../../scripts/stack/layout.js';

const CLIENT = join(repoRoot, 'bin', 'pgdr-restore');
const MiB = 1024 * 1024;
const FIRST = '000000010000000000000005';

describe('the restore prefetcher', () => {
  let dir: string;
  let tc: TestCluster;
  let deps: { config: TestCluster['config']; s3: ReturnType<typeof createS3Client>; readSecret: ReturnType<typeof createSecretReader> };

  /** A file of this name and content pushed to the cluster's archive as archive_command would. */
  async function archived(name: string, data: Buffer | string): Promise<void> {
    const path = join(dir, 'wal', name);
    writeFileSync(path, data);
    await pushWal(deps, tc.name, path);
  }

  /** A restored copy's data directory, as after extraction: a backup_label naming its first segment. */
  function copyDir(name: string): string {
    const data = join(dir, name);
    mkdirSync(join(data, 'pg_wal'), { recursive: true });
    writeFileSync(
      join(data, 'backup_label'),
      `START WAL LOCATION: 0/5000028 (file ${FIRST})\nCHECKPOINT LOCATION: 0/5000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n`,
    );
    return data;
  }

  const start = (dataDir: string) =>
    ensurePrefetcher({
      config: tc.config,
      cluster: tc.name,
      dataDir,
      osUser: userInfo().username,
      s3: deps.s3,
      readSecret: deps.readSecret,
    });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-prefetch-'));
    mkdirSync(join(dir, 'wal'));
    tc = testCluster('prefetch');
    const readSecret = createSecretReader();
    deps = { config: tc.config, s3: createS3Client(tc.config.storage, readSecret), readSecret };
  });
  afterAll(() => {
    deps?.s3.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("fetches the backup's first segment from backup_label before anything asks for it", async () => {
    const segment = Buffer.concat([Buffer.alloc(MiB / 2, 7), randomBytes(MiB / 2)]);
    await archived(FIRST, segment);
    const data = copyDir('first');
    const prefetcher = await start(data);
    try {
      const spooled = join(prefetchSpool(data), FIRST);
      // Written to the spool first, counted after: wait for both.
      for (let i = 0; i < 200 && !(existsSync(spooled) && prefetcher.stats.fetched > 0); i++) await new Promise((r) => setTimeout(r, 50));
      expect(readFileSync(spooled).equals(segment)).toBe(true);
      expect(prefetcher.stats).toMatchObject({ fetched: 1, corrupt: 0 });
    } finally {
      await stopPrefetcher(data);
    }
    expect(existsSync(prefetchSpool(data))).toBe(false);
  });

  it('looks up each timeline history file when it is asked for, and the client answers from that lookup', async () => {
    const history = '1\t0/5000000\tno recovery target specified\n';
    await archived('00000002.history', history);
    const data = copyDir('history');
    await start(data);
    const log = join(dir, 'history-fallback.log');
    const restore = (name: string) =>
      execa(CLIENT, ['--spool', prefetchSpool(data), '--wait', '30', '--', ...recordingFallback(log), name, `pg_wal/RECOVERY-${name}`], {
        cwd: data,
        reject: false,
      });
    try {
      const present = await restore('00000002.history');
      expect(present.exitCode, present.stderr).toBe(0);
      expect(readFileSync(join(data, 'pg_wal', 'RECOVERY-00000002.history'), 'utf8')).toBe(history);
      // Not in the archive: "not found" (exit 1), as the direct fetch says it, without running it.
      const absent = await restore('00000003.history');
      expect(absent.exitCode, absent.stderr).toBe(1);
      expect(existsSync(join(data, 'pg_wal', 'RECOVERY-00000003.history'))).toBe(false);
      // A timeline created after that answer is found by the next request: answers are per request.
      await archived('00000003.history', `${history}2\t0/7000000\tno recovery target specified\n`);
      const later = await restore('00000003.history');
      expect(later.exitCode, later.stderr).toBe(0);
      expect(readFileSync(join(data, 'pg_wal', 'RECOVERY-00000003.history'), 'utf8')).toContain('0/7000000');
      expect(fallbackLog(log)).toBe('');
    } finally {
      await stopPrefetcher(data);
    }
    expect(existsSync(prefetchSpool(data))).toBe(false);
  });
});
