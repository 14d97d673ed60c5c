import { describe, expect, it } from 'vitest';
import { planRetention, walBeforeCutoff } from '../../domain/retention.js';
import { walSegmentName, type CatalogEntry, type BackupManifest } from '../../domain/catalog.js';
import { backupId } from '../../domain/naming.js';

const day = 86_400_000;
const now = new Date('2026-11-20T12:00:00Z');

function entry(daysAgo: number, status: CatalogEntry['status'] = 'good', seg = daysAgo): CatalogEntry {
  const at = new Date(now.getTime() - daysAgo * day);
  const id = backupId(at, 'full');
  if (status === 'incomplete') return { id, status, manifest: null, orphanKeys: [`x/${id}/base.tar.zst`] };
  const manifest = {
    id,
    type: 'full',
    status,
    stopTime: at.toISOString(),
    startWalSegment: `00000001000000000000${String(100 - seg).padStart(4, '0')}`,
  } as BackupManifest;
  return { id, status, manifest };
}

describe('planRetention', () => {
  it('keeps the newest N fulls and expires the older ones with a WAL cutoff at the oldest kept start', () => {
    const [a, b, c, d] = [entry(4), entry(3), entry(2), entry(1)];
    const plan = planRetention([d!, b!, a!, c!], { fullCount: 2 }, now);
    expect(plan.keep).toEqual([c!.id, d!.id]);
    expect(plan.expire.map((e) => e.id)).toEqual([a!.id, b!.id]);
    expect(plan.walCutoff).toBe(c!.manifest!.startWalSegment);
  });

  it('keeps more than N fulls when the recovery window needs them', () => {
    const all = [entry(10), entry(6), entry(4), entry(1)];
    // A 5-day window needs the full that stopped 6 days ago to restore to 5 days ago.
    const plan = planRetention(all, { fullCount: 1, recoveryWindowDays: 5 }, now);
    expect(plan.keep).toEqual(all.slice(1).map((e) => e.id));
    expect(plan.expire.map((e) => e.id)).toEqual([all[0]!.id]);
  });

  it('keeps everything when the recovery window reaches past the oldest backup', () => {
    const all = [entry(3), entry(2), entry(1)];
    expect(planRetention(all, { fullCount: 1, recoveryWindowDays: 30 }, now).expire).toEqual([]);
  });

  it('never counts failed or incomplete backups, and expires them only when older than the oldest kept good one', () => {
    const all = [entry(5, 'failed'), entry(4), entry(3, 'incomplete'), entry(2), entry(1, 'failed')];
    const plan = planRetention(all, { fullCount: 1 }, now);
    expect(plan.keep).toEqual([all[3]!.id, all[4]!.id]);
    expect(plan.expire.map((e) => [e.id, e.status])).toEqual([
      [all[0]!.id, 'failed'],
      [all[1]!.id, 'good'],
      [all[2]!.id, 'incomplete'],
    ]);
  });

  it('deletes nothing, WAL included, when there is no good full backup', () => {
    const plan = planRetention([entry(3, 'failed'), entry(2, 'incomplete')], { fullCount: 1 }, now);
    expect(plan.expire).toEqual([]);
    expect(plan.walCutoff).toBeNull();
  });

  it('always keeps the newest good backup, whatever the policy', () => {
    const all = [entry(3), entry(2), entry(1)];
    expect(planRetention(all, { fullCount: 1 }, now).keep).toEqual([all[2]!.id]);
  });
});

describe('planRetention with minWindow', () => {
  const hour = 3_600_000;
  const at = (msAgo: number): CatalogEntry => {
    const t = new Date(now.getTime() - msAgo);
    const id = backupId(t, 'full');
    return {
      id,
      status: 'good',
      manifest: {
        id,
        type: 'full',
        status: 'good',
        stopTime: t.toISOString(),
        startWalSegment: `0000000100000000${String(Math.round(1e6 - msAgo / 1000)).padStart(8, '0')}`,
      } as BackupManifest,
    };
  };
  const week = 7 * 86_400;

  it('keeps the old backups when a burst of on-demand backups lands within minWindow, and says why in the plan', () => {
    // Scheduled fulls 8 and 1 days ago, then three on-demand ones in the last hour.
    const all = [at(8 * day), at(1 * day), at(hour), at(hour / 2), at(hour / 4)];
    const plan = planRetention(all, { fullCount: 2, minWindowSeconds: week }, now);
    expect(plan.expire).toEqual([]);
    expect(plan.keep).toEqual(all.map((e) => e.id));
    expect(plan.walCutoff).toBe(all[0]!.manifest!.startWalSegment);
    const reason = `kept by retention.minWindow 7d: the recovery window must reach back to 2026-11-13T12:00:00.000Z and ${all[0]!.id} is the newest full that stopped by then`;
    expect(plan.heldByMinWindow).toEqual(all.slice(0, 3).map((e) => ({ id: e.id, reason })));
    // Without minWindow, count retention would have discarded the whole earlier window.
    expect(planRetention(all, { fullCount: 2 }, now).keep).toEqual(all.slice(3).map((e) => e.id));
  });

  it('keeps everything when no full stopped minWindow ago yet', () => {
    const all = [at(3 * day), at(hour), at(hour / 2)];
    const plan = planRetention(all, { fullCount: 1, minWindowSeconds: week }, now);
    expect(plan.expire).toEqual([]);
    expect(plan.heldByMinWindow.map((h) => h.id)).toEqual(all.slice(0, 2).map((e) => e.id));
    expect(plan.heldByMinWindow[0]!.reason).toContain('no full stopped by then');
  });

  it('expires backups older than the newest full that stopped minWindow ago, so the window still starts at or before now - minWindow', () => {
    const all = [at(20 * day), at(10 * day), at(7 * day), at(2 * day), at(hour)];
    const plan = planRetention(all, { fullCount: 1, minWindowSeconds: week }, now);
    expect(plan.expire.map((e) => e.id)).toEqual(all.slice(0, 2).map((e) => e.id));
    expect(plan.keep).toEqual(all.slice(2).map((e) => e.id));
    expect(plan.heldByMinWindow.map((h) => h.id)).toEqual(all.slice(2, 4).map((e) => e.id));
    const start = Date.parse(all.find((e) => e.id === plan.keep[0])!.manifest!.stopTime);
    expect(start).toBeLessThanOrEqual(now.getTime() - week * 1000);
  });

  it('holds nothing back when count retention already keeps minWindow of history', () => {
    const all = [at(20 * day), at(10 * day), at(2 * day)];
    const plan = planRetention(all, { fullCount: 2, minWindowSeconds: week }, now);
    expect(plan.expire.map((e) => e.id)).toEqual([all[0]!.id]);
    expect(plan.heldByMinWindow).toEqual([]);
  });
});

describe('walBeforeCutoff', () => {
  const cutoff = '000000010000000A00000010';
  it.each([
    ['000000010000000A0000000F', true],
    ['000000010000000A0000000F.zst', true],
    ['000000020000000900000FFF', true],
    ['000000010000000A00000010', false],
    ['000000010000000A00000011', false],
    ['000000010000000A0000000E.00000028.backup', true],
    ['000000010000000A0000000F.partial', true],
    ['00000002.history', false],
    ['not-a-wal-file', false],
  ])('%s before the cutoff: %s', (name, expected) => {
    expect(walBeforeCutoff(name, cutoff)).toBe(expected);
  });
});

describe('names', () => {
  it('derives the WAL segment of an LSN and sortable backup ids', () => {
    expect(walSegmentName(1, '0/8000028')).toBe('000000010000000000000008');
    expect(walSegmentName(3, '1A/FF000000')).toBe('000000030000001A000000FF');
    expect(backupId(new Date('2026-11-20T22:47:45.224Z'), 'full')).toBe('20261120T224745224Z-F');
  });
});
