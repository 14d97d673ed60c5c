import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { execa } from 'execa';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';

const pgdr = (args: string[]) => execa(join(repoRoot, 'bin/pgdr'), args, { env: { PGDR_CONFIG: inject('configPath') }, reject: false });

describe('pgdr backup, backups, schedules', () => {
  it('takes a backup with --wait, showing progress, then lists it as good', async () => {
    const res = await pgdr(['backup', 'demo', '--wait']);
    expect(res.exitCode, res.stderr).toBe(0);
    const [started, , done] = res.stdout.split('\n');
    expect(started).toMatch(/^started backup\/demo\//);
    expect(done).toMatch(/^backup (\d{8}T\d{9}Z-F): [\d.]+ MiB, lsn [0-9A-F]+\/[0-9A-F]+-[0-9A-F]+\/[0-9A-F]+, backup successfully verified$/);
    expect(res.stderr).toMatch(/waiting for the cluster lock|locating the source node|streaming pg_basebackup|verifying|done/);
    const id = /^backup (\S+):/.exec(done!)![1]!;
    const list = await pgdr(['backups', 'demo']);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+METHOD\s+TYPE/);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+good\\s+basebackup\\s+full`));
  });

  it('lists the default schedules with their next run times', async () => {
    const res = await pgdr(['schedules', 'demo']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^full\s+full\s+0 1 \* \* 0 \(UTC\)\s+(active|paused)\s+\d{4}-/m);
    expect(res.stdout).toMatch(/^diff\s+diff\s+0 1 \* \* 1-6 \(UTC\)\s+(active|paused)\s+\d{4}-/m);
  });
});
