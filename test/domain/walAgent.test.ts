import { describe, expect, it } from 'vitest';
import { backupStartSegment, prefetchWindow } from '../../domain/walAgent.js';

describe('the prefetch spool', () => {
  it('reads the first segment replay needs from a backup_label, and nothing from anything else', () => {
    const label = `START WAL LOCATION: 2/A3000028 (file 0000000300000002000000A3)
CHECKPOINT LOCATION: 2/A3000060
BACKUP METHOD: streamed
BACKUP FROM: standby
START TIME: 2026-12-02 05:40:22 UTC
LABEL: pgdr 20261202T054022F
START TIMELINE: 3
`;
    expect(backupStartSegment(label)).toBe('0000000300000002000000A3');
    expect(backupStartSegment('')).toBe('');
    expect(backupStartSegment(label.replace('(file 0000000300000002000000A3)', '(file 0000000300000002000000A3.partial)'))).toBe('');
  });

  it('names the asked segment and the next ones of its timeline, by the segment size', () => {
    expect(prefetchWindow('0000000100000000000000FF', 3, 16 * 1024 * 1024)).toEqual([
      '0000000100000000000000FF',
      '000000010000000100000000',
      '000000010000000100000001',
    ]);
    expect(prefetchWindow('00000002000000000000003F', 2, 64 * 1024 * 1024)).toEqual([
      '00000002000000000000003F',
      '000000020000000100000000',
    ]);
  });
});
