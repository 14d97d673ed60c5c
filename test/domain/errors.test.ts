import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import * as errors from '../../domain/errors.js';
import {
  NoBackupSourceError,
  NodeMismatchError,
  NoWalCheckError,
  PgbackrestVerifyFailedError,
  PgdrError,
  PortUnavailableError,
  ToolFailedError,
  errorRow,
  errorTable,
  nonRetryableErrorTypes,
  toApplicationFailure,
} from '../../domain/errors.js';

/** Every PgdrError subclass the module exports. */
const classes = Object.values(errors).filter((v): v is typeof PgdrError => typeof v === 'function' && v.prototype instanceof PgdrError);

describe('the error table', () => {
  it('has exactly one row per error class the module exports, and each code once', () => {
    const inTable = errorTable.map((r) => r.class.name);
    expect([...inTable].sort()).toEqual(classes.map((c) => c.name).sort());
    expect(new Set(errorTable.map((r) => r.code)).size).toBe(errorTable.length);
    expect(new Set(inTable).size).toBe(errorTable.length);
  });

  it('gives every row a code in upper snake case, a one-line meaning and a one-line hint', () => {
    for (const r of errorTable) {
      expect(r.code, r.class.name).toMatch(/^[A-Z][A-Z_]*[A-Z]$/);
      expect(r.meaning, r.code).toMatch(/^[^\n]{10,}$/);
      if (r.hint !== undefined) expect(r.hint, r.code).toMatch(/^[^\n]+$/);
      // 503: Temporal cannot be reached, the status every route that asks Temporal declares.
      if (r.http !== null) expect([404, 409, 412, 422, 500, 503], r.code).toContain(r.http);
    }
  });

  it("names exactly the non-retryable rows as the retry profiles' non-retryable types", () => {
    expect([...nonRetryableErrorTypes].sort()).toEqual(
      errorTable
        .filter((r) => !r.retryable)
        .map((r) => r.class.name)
        .sort(),
    );
    expect(nonRetryableErrorTypes).toContain('PgbackrestVerifyFailedError');
    expect(nonRetryableErrorTypes).toContain('NodeMismatchError');
    expect(nonRetryableErrorTypes).not.toContain('ToolFailedError');
  });

  it('gives an error its code, its retryability and its hint from its row, the hint filled from its values', () => {
    const e = new NoWalCheckError('c1');
    expect({ code: e.code, nonRetryable: e.nonRetryable, name: e.name }).toEqual({
      code: 'NO_WAL_CHECK',
      nonRetryable: true,
      name: 'NoWalCheckError',
    });
    expect(e.message).toBe(
      'no WAL archive check of cluster "c1" has run yet, so its archive state and recoverable window are unknown\n' +
        'HINT: start one: POST /api/v1/clusters/c1/wal-archive/check or pgdr wal check c1',
    );
    const p = new PortUnavailableError('n1', '/d', 55500, 'address in use');
    expect(p.hint).toBe(
      'free port 55500 on that host or choose another one (leave the port out and pgdr takes a free one of restore.portFrom..portTo)',
    );
    const t = new ToolFailedError('pg_ctl', 1, 'boom');
    expect({ code: t.code, nonRetryable: t.nonRetryable, hint: t.hint, message: t.message }).toEqual({
      code: 'TOOL_FAILED',
      nonRetryable: false,
      hint: undefined,
      message: 'pg_ctl failed with exit code 1: boom',
    });
  });

  it('lets an error give a more precise hint than its row', () => {
    expect(new NoBackupSourceError('c1', 'standby', 'primary=a').message).toBe(
      'no streaming standby to back up cluster "c1" from: primary=a\nHINT: is a standby streaming? set backup.from: primary to use the primary',
    );
    expect(new NoBackupSourceError('c1', 'primary', 'a=down').message).toBe(
      'no primary to back up cluster "c1" from: a=down\nHINT: is the primary up and its agent running?',
    );
  });

  it('says loudly when an error class has no row', () => {
    class Uncatalogued extends PgdrError {}
    expect(() => new Uncatalogued('x')).toThrow('Uncatalogued has no row in the error table (domain/errors.ts errorTable)');
    expect(() => errorRow(Uncatalogued)).toThrow(/no row/);
  });
});

describe('the two errors that had borrowed another class', () => {
  it('a failed pgbackrest verify is its own non-retryable failure naming the set and what pgbackrest said', () => {
    const f = toApplicationFailure(
      new PgbackrestVerifyFailedError('c1', '20261130-101010F', 'checksum mismatch in pg_data/base/1/1234'),
    ) as ApplicationFailure;
    expect({ type: f.type, nonRetryable: f.nonRetryable, message: f.message, details: f.details }).toEqual({
      type: 'PgbackrestVerifyFailedError',
      nonRetryable: true,
      message:
        'backup set 20261130-101010F of cluster "c1" failed pgbackrest verify: checksum mismatch in pg_data/base/1/1234\n' +
        'HINT: restore from another backup (backupId), and take a new backup',
      details: [{ code: 'PGBACKREST_VERIFY_FAILED', cluster: 'c1', label: '20261130-101010F' }],
    });
  });

  it('a node mismatch names the activity and both nodes, and is not retried', () => {
    const e = new NodeMismatchError('probeNode', { cluster: 'c1', node: 'b' }, { cluster: 'c1', node: 'a' });
    expect({ code: e.code, nonRetryable: e.nonRetryable, context: e.context }).toEqual({
      code: 'NODE_MISMATCH',
      nonRetryable: true,
      context: { activity: 'probeNode', cluster: 'c1', node: 'b', agentCluster: 'c1', agentNode: 'a' },
    });
    expect(e.message).toBe(
      'probeNode for node "b" of cluster "c1" reached the agent of node "a" of cluster "c1"; refused\n' +
        'HINT: each agent serves the one node its queue belongs to (pgdr.yaml refuses shared queues): check that the agent on this host runs the same pgdr.yaml as the control worker',
    );
  });
});
