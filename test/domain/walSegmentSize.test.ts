import { describe, expect, it } from 'vitest';
import { formatSegmentBytes, isSegmentBytes, parseWalSegmentSize, resolveSegmentBytes } from '../../domain/walSegmentSize.js';
import { WalSegmentSizeMismatchError } from '../../domain/errors.js';
import { segmentName, segmentNumber, segmentOfLsn } from '../../domain/wal.js';
import { walSegmentName } from '../../domain/catalog.js';

const MiB = 1024 * 1024;

describe('WAL segment size', () => {
  it('reads wal_segment_size as SHOW prints it, and refuses what initdb cannot make', () => {
    expect(parseWalSegmentSize('16MB')).toBe(16 * MiB);
    expect(parseWalSegmentSize('1MB')).toBe(MiB);
    expect(parseWalSegmentSize('64MB')).toBe(64 * MiB);
    expect(parseWalSegmentSize('1GB')).toBe(1024 * MiB);
    expect(parseWalSegmentSize('16777216')).toBe(16 * MiB);
    expect(() => parseWalSegmentSize('2GB')).toThrow('unexpected wal_segment_size "2GB": expected a power of two from 1MB to 1GB');
    expect(() => parseWalSegmentSize('24MB')).toThrow(RangeError);
    expect([isSegmentBytes(512 * 1024), isSegmentBytes(MiB), isSegmentBytes(3 * MiB)]).toEqual([false, true, false]);
    expect([formatSegmentBytes(MiB), formatSegmentBytes(1024 * MiB)]).toEqual(['1 MiB', '1 GiB']);
  });

  it('names segments as the server does for 1 MiB, 16 MiB and 64 MiB segments', () => {
    // pg_walfile_name('0/5000028') on timeline 1: 64 MiB → ...01, 16 MiB → ...05, 1 MiB → ...50.
    expect(walSegmentName(1, '0/5000028', 64 * MiB)).toBe('000000010000000000000001');
    expect(walSegmentName(1, '0/5000028', 16 * MiB)).toBe('000000010000000000000005');
    expect(walSegmentName(1, '0/5000028', MiB)).toBe('000000010000000000000050');
    // Across a log id: 64 segments of 64 MiB per 4 GiB, 4096 of 1 MiB.
    expect(walSegmentName(2, '1/4000000', 64 * MiB)).toBe('000000020000000100000001');
    expect(walSegmentName(2, '1/00100000', MiB)).toBe('000000020000000100000001');
    expect(segmentNumber('000000010000000100000001', 64 * MiB)).toBe(65);
    expect(segmentName(1, 65, 64 * MiB)).toBe('000000010000000100000001');
    expect(segmentOfLsn('1/4000000', 64 * MiB)).toBe(65);
  });

  it('takes the server’s size first, then the backups’ recorded sizes, then an archived segment’s, else 16 MiB', () => {
    const seg = '000000010000000000000003';
    expect(resolveSegmentBytes('c1', { server: 64 * MiB, backups: [{ id: 'B1' }], archived: null })).toEqual({
      segmentBytes: 64 * MiB,
      source: 'server',
    });
    expect(resolveSegmentBytes('c1', { server: null, backups: [{ id: 'B0' }, { id: 'B1', segmentBytes: MiB }], archived: null })).toEqual({
      segmentBytes: MiB,
      source: 'backups',
    });
    expect(resolveSegmentBytes('c1', { server: null, backups: [{ id: 'B0' }], archived: { name: seg, bytes: 64 * MiB } })).toEqual({
      segmentBytes: 64 * MiB,
      source: 'archive',
    });
    // An object of no possible segment size (a stand-in, a truncated upload) says nothing.
    expect(resolveSegmentBytes('c1', { server: null, backups: [], archived: { name: seg, bytes: 1 } })).toEqual({
      segmentBytes: 16 * MiB,
      source: 'default',
    });
  });

  it('refuses sizes that disagree, naming each size and who said it', () => {
    const mixed = () =>
      resolveSegmentBytes('c1', {
        server: 16 * MiB,
        backups: [
          { id: 'B1', segmentBytes: 64 * MiB },
          { id: 'B2', segmentBytes: 64 * MiB },
        ],
        archived: { name: '000000010000000000000009', bytes: 64 * MiB },
      });
    expect(mixed).toThrow(WalSegmentSizeMismatchError);
    expect(mixed).toThrow(
      'cluster "c1" has more than one WAL segment size: 16 MiB (the server) vs 64 MiB (backup B1, backup B2, archived segment 000000010000000000000009); refused\n' +
        'HINT: two systems may share this cluster name or prefix: give each system its own cluster name',
    );
  });
});
