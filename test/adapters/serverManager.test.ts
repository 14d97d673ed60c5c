import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../scripts/stack/layout.js';
import { stopPostgres, startPostgres } from '../../adapters/serverStart.js';
import { ServerManagerMismatchError } from '../../domain/errors.js';

describe('a node run by pg_ctlcluster', () => {
  const manager = { kind: 'pg_ctlcluster' as const, version: '15', name: 'pgdr-no-such-cluster' };
  const server = { node: 'a', binDir: '/usr/lib/postgresql/15/bin', dataDir: '/var/lib/pgdr-test/a', osUser: 'postgres', manager };

  it('is neither stopped nor started when its cluster is not registered, and the error names both sides', async () => {
    const stop = stopPostgres({ ...server, mode: 'fast', wait: true, timeoutSeconds: 5 });
    await expect(stop).rejects.toBeInstanceOf(ServerManagerMismatchError);
    await expect(stop).rejects.toThrow(
      'node "a" says its server is run by "pg_ctlcluster 15 pgdr-no-such-cluster", whose data directory is unknown (/etc/postgresql/15/pgdr-no-such-cluster/postgresql.conf: ENOENT), not the node\'s dataDir /var/lib/pgdr-test/a; nothing was started or stopped',
    );
    await expect(startPostgres({ ...server, logFile: '/var/lib/pgdr-test/a/log' })).rejects.toBeInstanceOf(ServerManagerMismatchError);
  });
});

const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');

describe('a pg_ctlcluster cluster registered in /etc/postgresql (a mount namespace of the test’s own)', () => {
  /** Runs the probe with `conf` as /etc/postgresql/15/main/postgresql.conf; /etc/postgresql is the test's, not the machine's. */
  async function probe(conf: string, dataDir: string): Promise<{ ok?: boolean; error?: string; message?: string }> {
    const root = mkdtempSync(join(tmpdir(), 'pgdr-etc-postgresql-'));
    try {
      mkdirSync(join(root, '15', 'main'), { recursive: true });
      writeFileSync(join(root, '15', 'main', 'postgresql.conf'), conf);
      const script = `mount --bind "$1" /etc/postgresql && exec "$2" test/helpers/managerProbe.ts 'pg_ctlcluster 15 main' "$3"`;
      const out = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', root, tsx, dataDir], {
        cwd: repoRoot,
      });
      return JSON.parse(out.stdout.trim().split('\n').at(-1)!);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }

  it('refuses a cluster whose data_directory is another directory than the node’s, naming both, and runs nothing', async () => {
    const r = await probe("data_directory = '/srv/pg/other'\t\t# use data in another directory\n", '/srv/pg/main');
    expect(r).toEqual({
      error: 'ServerManagerMismatchError',
      message: expect.stringContaining(
        'node "a" says its server is run by "pg_ctlcluster 15 main", whose data directory is /srv/pg/other, not the node\'s dataDir /srv/pg/main; nothing was started or stopped',
      ),
    });
  });

  it('accepts the node’s own data directory, also through a symlink, and hands the stop to pg_ctlcluster', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-datadir-'));
    const link = `${dir}-link`;
    symlinkSync(dir, link);
    try {
      const r = await probe(`data_directory = '${dir}'\n`, link);
      // Past the guard: pg_ctlcluster itself ran (and failed, there is no cluster in that directory).
      expect(r.error).toBe('ToolFailedError');
      expect(r.message).toContain('pg_ctlcluster');
    } finally {
      rmSync(link, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
