import { describe, expect, it } from 'vitest';
import { startedByOf, summaryTarget, workflowSummary } from '../../domain/summaries.js';

describe('workflow summaries', () => {
  it('name the cluster, procedure, target and who started it, on one line and as a short list', () => {
    const s = workflowSummary({ workflow: 'backup', cluster: 'demo', target: 'full backup from the standby', startedBy: 'api' });
    expect(s.staticSummary).toBe('backup demo: full backup from the standby (by api)');
    expect(s.staticDetails).toBe('- cluster: demo\n- procedure: backup\n- target: full backup from the standby\n- started by: api');
  });

  it('say "the whole cluster" when a procedure has no narrower target', () => {
    const s = workflowSummary({
      workflow: 'walArchiveCheck',
      cluster: 'demo',
      target: summaryTarget('walArchiveCheck', {}),
      startedBy: 'api',
    });
    expect(s.staticSummary).toBe('walArchiveCheck demo (by api)');
    expect(s.staticDetails).toContain('- target: the whole cluster');
  });

  it("read each procedure's target from its input", () => {
    expect(summaryTarget('backup', { type: 'diff', from: 'primary' })).toBe('diff backup from the primary');
    expect(summaryTarget('expireBackups', { dryRun: true })).toBe('retention (dry run)');
    const request = { target: { time: '2026-01-02T03:04:05Z' }, destination: { node: 'replica', dataDir: '/srv/copy' } };
    expect(summaryTarget('pitrRestore', { request })).toBe('time 2026-01-02T03:04:05Z into replica:/srv/copy');
    expect(summaryTarget('restorePreflight', { request: { target: { latest: true } } })).toBe('latest');
    expect(summaryTarget('restoreDrill', { target: 'immediate', drillNode: 'replica' })).toBe('immediate on replica');
    expect(summaryTarget('replicaRebuild', { node: 'replica', source: 'backup' })).toBe('standby replica from the backup');
    expect(summaryTarget('switchover', { candidate: 'replica' })).toBe('to replica');
    expect(
      summaryTarget('dropRestore', { report: { id: '20260101T000000000Z', destination: { node: 'replica', dataDir: '/srv/x' } } }),
    ).toBe('restore 20260101T000000000Z at replica:/srv/x');
    expect(summaryTarget('clusterLock', {})).toBeUndefined();
    expect(summaryTarget('destinationLock', { dir: 'h:/srv/x' })).toBe('h:/srv/x');
  });

  it('lose only the target for an input of another shape', () => {
    expect(summaryTarget('switchover', undefined)).toBeUndefined();
    expect(summaryTarget('backup', { candidate: 'x' })).toBeUndefined();
  });

  it('credit a schedule by its schedule id, other triggers as they are, and the fallback without one', () => {
    expect(startedByOf('demo', 'schedule:nightly', 'api')).toBe('schedule pgdr/demo/nightly');
    expect(startedByOf('demo', 'drill:20260101T000000000Z', 'api')).toBe('drill 20260101T000000000Z');
    expect(startedByOf('demo', 'cli', 'api')).toBe('cli');
    expect(startedByOf('demo', undefined, 'api')).toBe('api');
  });
});
