/** The WAL archive's index: runs of segments, what stays whole, merging a listing in, when a full listing is due. */
import { describe, expect, it } from 'vitest';
import { compactIndex, expandIndex, fullListingDue, mergeListed, sweepMissing, type IndexedWal } from '../../domain/walIndex.js';
import { segmentName } from '../../domain/wal.js';

const MB16 = 16 * 1024 * 1024;
const seg = (tl: number, no: number, at = '2026-12-01T10:00:00.000Z'): IndexedWal => {
  const name = segmentName(tl, no, MB16);
  return { name, key: `p/c/wal/${name}.zst`, bytes: 100, lastModified: at };
};
const obj = (name: string, at = '2026-12-01T10:00:00.000Z'): IndexedWal => ({ name, key: `p/c/wal/${name}`, bytes: 10, lastModified: at });

describe('WAL archive index', () => {
  it('keeps segments as runs, and whole: other objects, each timeline newest, and a parent past a child switch point', () => {
    // Timeline 1: 1..10 with 4 missing; timeline 2 branched off 1 at segment 8 (0/8000060); 2: 8..9.
    const archived = [
      ...[1, 2, 3, 5, 6, 7, 8, 9, 10].map((n) => seg(1, n)),
      obj('000000010000000000000003.00000028.backup'),
      obj('00000002.history', '2026-12-01T11:00:00.000Z'),
      seg(2, 8),
      seg(2, 9),
    ];
    const index = compactIndex({
      root: 'p/c/wal/',
      segmentBytes: MB16,
      archived,
      histories: { '2': '1\t0/8000060\tno recovery target specified\n' },
      lastKeys: {},
      fullScanAt: '2026-12-01T12:00:00.000Z',
      now: '2026-12-01T12:00:00.000Z',
    });
    expect(index.runs).toEqual({
      '1': [
        [segmentName(1, 1, MB16), 3],
        [segmentName(1, 5, MB16), 3],
      ],
      '2': [[segmentName(2, 8, MB16), 1]],
    });
    expect(index.entries.map((e) => e.name)).toEqual([
      '000000010000000000000003.00000028.backup',
      segmentName(1, 8, MB16),
      segmentName(1, 9, MB16),
      segmentName(1, 10, MB16),
      '00000002.history',
      segmentName(2, 9, MB16),
    ]);
    // Expanded: every name again; the runs' members without key, size or time.
    const expanded = expandIndex(index);
    expect(expanded.map((e) => e.name)).toEqual(archived.map((a) => a.name).sort());
    expect(expanded.find((e) => e.name === segmentName(1, 2, MB16))).toEqual({
      name: segmentName(1, 2, MB16),
      key: '',
      bytes: 0,
      lastModified: null,
    });
    expect(expanded.find((e) => e.name === segmentName(1, 9, MB16))!.lastModified).toBe('2026-12-01T10:00:00.000Z');
    // A later listing replaces what it lists again and adds what is new.
    const merged = mergeListed(expanded, [seg(2, 10), seg(1, 2, '2026-12-01T13:00:00.000Z')]);
    expect(merged.map((e) => e.name)).toEqual([...archived.map((a) => a.name), segmentName(2, 10, MB16)].sort());
    expect(merged.find((e) => e.name === segmentName(1, 2, MB16))!.lastModified).toBe('2026-12-01T13:00:00.000Z');
  });

  it('asks for a full listing without an index, for another root or segment size, on demand, and once a day', () => {
    const index = compactIndex({
      root: 'p/c/wal/',
      segmentBytes: MB16,
      archived: [seg(1, 1)],
      histories: {},
      lastKeys: {},
      fullScanAt: '2026-12-01T00:00:00.000Z',
      now: '2026-12-01T00:00:00.000Z',
    });
    const want = { root: 'p/c/wal/', segmentBytes: MB16, full: false, now: new Date('2026-12-01T23:00:00Z'), maxAgeHours: 24 };
    expect(fullListingDue(index, want)).toBeNull();
    expect(fullListingDue(undefined, want)).toBe('no index yet');
    expect(fullListingDue(index, { ...want, full: true })).toBe('asked for');
    expect(fullListingDue(index, { ...want, root: 'q/c/wal/' })).toBe('the archive moved');
    expect(fullListingDue(index, { ...want, segmentBytes: 64 * 1024 * 1024 })).toBe('another segment size');
    expect(fullListingDue(index, { ...want, segmentBytes: null })).toBeNull();
    expect(fullListingDue(index, { ...want, now: new Date('2026-12-02T01:00:00Z') })).toBe('the last full listing is 25 h old');
  });

  it('sweeps: names the known objects missing from a page between where it starts and where it ends', () => {
    const known = [1, 2, 3, 4, 5, 6].map((n) => seg(1, n));
    const page = [1, 2, 4].map((n) => seg(1, n));
    // A middle page: from the start up to its last name (4); 5 and 6 belong to the next page.
    expect(sweepMissing(known, page, null, false)).toEqual([segmentName(1, 3, MB16)]);
    // The last page: everything after where it starts must be in it.
    expect(
      sweepMissing(
        known,
        [4, 6, 7].map((n) => seg(1, n)),
        segmentName(1, 3, MB16),
        true,
      ),
    ).toEqual([segmentName(1, 5, MB16)]);
    // New objects in a page are no concern; an empty middle page proves nothing.
    expect(sweepMissing(known.slice(0, 2), page, null, false)).toEqual([]);
    expect(sweepMissing(known, [], null, false)).toEqual([]);
  });
});
