/**
 * A node's connection dying between two queries (a server stopped by a switchover, a crash)
 * fails the next query instead of crashing the worker with an unheard 'error' event (a CI run
 * once reported "terminating connection due to unexpected postmaster exit" as uncaught).
 */
import { describe, expect, it } from 'vitest';
import { testCluster } from '../helpers/cluster.js';
import { withNode } from '../../adapters/sql.js';
import { createSecretReader } from '../../adapters/secrets.js';

describe('withNode', () => {
  const tc = testCluster('pgconn');
  const deps = { config: tc.config, readSecret: createSecretReader() };

  it('survives its backend being terminated between queries; the next query fails', async () => {
    const outcome = await withNode(deps, tc.name, 'primary', async (c) => {
      const pid = Number((await c.query('select pg_backend_pid() as p')).rows[0].p);
      // Terminated from another session while this one is idle: the server sends FATAL 57P01.
      await withNode(deps, tc.name, 'primary', (other) => other.query('select pg_terminate_backend($1)', [pid]));
      await new Promise((r) => setTimeout(r, 300));
      return c.query('select 1').then(
        () => 'query worked',
        (err: Error) => `query failed: ${err.message}`,
      );
    });
    expect(outcome).toMatch(/^query failed: /);
  });
});
