/**
 * Drill coverage (domain/drillCoverage.ts): what counts as a proof, the proof window, the share
 * of the catalog proven, and which backups the next drill restores.
 */
import { describe, expect, it } from 'vitest';
import { drillCoverage, drillPicks, proofsFrom, restoreProves } from '../../domain/drillCoverage.js';
import type { DrillCheck, DrillReport, DrillRestore } from '../../domain/drill.js';

const NOW = new Date('2026-12-01T00:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000).toISOString();
const check = (ok: boolean, severity: DrillCheck['severity'] = 'error'): DrillCheck => ({
  name: 'c',
  kind: 'assertion',
  ok,
  severity,
  actual: null,
  expected: 'x',
});

function restore(backupId: string, o: Partial<DrillRestore> = {}): DrillRestore {
  return {
    backupId,
    method: 'basebackup',
    role: 'newest',
    restore: {} as DrillRestore['restore'],
    checks: [check(true)],
    rtoSeconds: 1,
    rpoSeconds: 1,
    lastCommitTime: null,
    checksSeconds: 1,
    error: null,
    teardown: { removed: true },
    ...o,
  };
}

const drill = (id: string, finishedAt: string, restores: DrillRestore[]) =>
  ({ id, finishedAt, restores }) as Pick<DrillReport, 'id' | 'finishedAt' | 'restores'>;

describe('what proves a backup', () => {
  it('a restore that came up with every error-severity check passing; a failed warning does not count against it', () => {
    expect(restoreProves(restore('b'))).toBe(true);
    expect(restoreProves(restore('b', { checks: [check(true), check(false, 'warning')] }))).toBe(true);
    expect(restoreProves(restore('b', { checks: [check(true), check(false)] }))).toBe(false);
    expect(restoreProves(restore('b', { restore: null, error: 'download failed' }))).toBe(false);
    expect(restoreProves(restore('b', { error: 'checks broke' }))).toBe(false);
  });

  it("keeps each backup's newest proof, from passing restores only, even inside a drill that failed on another backup", () => {
    const proofs = proofsFrom([
      drill('d1', daysAgo(20), [restore('b1'), restore('b2', { checks: [check(false)] })]),
      drill('d2', daysAgo(10), [restore('b1')]),
      drill('d3', daysAgo(5), [restore('b3', { error: 'boom', restore: null }), restore('b2')]),
    ]);
    expect(proofs.sort((a, b) => a.backupId.localeCompare(b.backupId))).toEqual([
      { backupId: 'b1', drillId: 'd2', provenAt: daysAgo(10) },
      { backupId: 'b2', drillId: 'd3', provenAt: daysAgo(5) },
    ]);
  });
});

describe('coverage', () => {
  it('counts the good backups proven inside the window; an older proof has lapsed', () => {
    const proofs = proofsFrom([drill('d1', daysAgo(40), [restore('b1')]), drill('d2', daysAgo(3), [restore('b3'), restore('b2')])]);
    const c = drillCoverage(['b1', 'b2', 'b3', 'b4'], proofs, NOW, 31);
    expect(c).toMatchObject({ proofWindowDays: 31, backups: 4, proven: 2, ratio: 0.5, unproven: ['b1', 'b4'] });
    expect(c.rows.map((r) => [r.backupId, r.proof?.drillId ?? null])).toEqual([
      ['b1', null],
      ['b2', 'd2'],
      ['b3', 'd2'],
      ['b4', null],
    ]);
    // A wider window still sees the 40-day-old proof.
    expect(drillCoverage(['b1', 'b2', 'b3', 'b4'], proofs, NOW, 60).unproven).toEqual(['b4']);
  });

  it('has no ratio with no backup, and ignores proofs of backups no longer catalogued', () => {
    const proofs = proofsFrom([drill('d1', daysAgo(1), [restore('gone')])]);
    expect(drillCoverage([], proofs, NOW, 31)).toMatchObject({ backups: 0, proven: 0, ratio: null, unproven: [] });
    expect(drillCoverage(['b1'], proofs, NOW, 31)).toMatchObject({ backups: 1, proven: 0, ratio: 0 });
  });
});

describe("the next drill's backups", () => {
  const good = ['b1', 'b2', 'b3'].map((id) => ({ id }));

  it('the newest, plus the oldest not proven inside the window', () => {
    const proofs = proofsFrom([drill('d1', daysAgo(2), [restore('b1')]), drill('d0', daysAgo(50), [restore('b2')])]);
    expect(drillPicks(good, proofs, NOW, { proofWindowDays: 31, withOlder: true })).toEqual([
      { backup: { id: 'b3' }, role: 'newest' },
      { backup: { id: 'b2' }, role: 'older' },
    ]);
  });

  it('only the newest when every older backup is proven, when asked for no older one, or with one backup', () => {
    const proofs = proofsFrom([drill('d1', daysAgo(2), [restore('b1'), restore('b2')])]);
    expect(drillPicks(good, proofs, NOW, { proofWindowDays: 31, withOlder: true })).toEqual([{ backup: { id: 'b3' }, role: 'newest' }]);
    expect(drillPicks(good, [], NOW, { proofWindowDays: 31, withOlder: false })).toEqual([{ backup: { id: 'b3' }, role: 'newest' }]);
    expect(drillPicks([{ id: 'b1' }], [], NOW, { proofWindowDays: 31, withOlder: true })).toEqual([
      { backup: { id: 'b1' }, role: 'newest' },
    ]);
    expect(drillPicks([], [], NOW, { proofWindowDays: 31, withOlder: true })).toEqual([]);
  });

  it('reaches every backup: proving each drill’s picks leaves the catalog fully proven after backups - 1 drills', () => {
    const many = Array.from({ length: 6 }, (_, i) => ({ id: `b${i + 1}` }));
    const reports: ReturnType<typeof drill>[] = [];
    for (let i = 0; i < 5; i++) {
      const picks = drillPicks(many, proofsFrom(reports), NOW, { proofWindowDays: 31, withOlder: true });
      reports.push(
        drill(
          `d${i}`,
          NOW.toISOString(),
          picks.map((p) => restore(p.backup.id)),
        ),
      );
    }
    expect(reports.map((r) => r.restores.map((x) => x.backupId))).toEqual([
      ['b6', 'b1'],
      ['b6', 'b2'],
      ['b6', 'b3'],
      ['b6', 'b4'],
      ['b6', 'b5'],
    ]);
    expect(
      drillCoverage(
        many.map((b) => b.id),
        proofsFrom(reports),
        NOW,
        31,
      ),
    ).toMatchObject({ proven: 6, ratio: 1 });
  });
});
