import { describe, expect, it } from 'vitest';
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
