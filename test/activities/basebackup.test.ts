import { describe, expect, it } from 'vitest';
import { partSizeFor, parseBaseBackupStderr, objectNameFor } from '../../activities/steps/basebackup.js';

describe('basebackup helpers', () => {
  it('uses 8 MiB parts, and larger ones when a database would need more than 9000 parts', () => {
    expect(partSizeFor(1024 ** 3)).toBe(8 * 1024 * 1024);
    expect(partSizeFor(9000 * 8 * 1024 * 1024)).toBe(8 * 1024 * 1024);
    expect(partSizeFor(9000 * 8 * 1024 * 1024 + 1)).toBe(9 * 1024 * 1024);
    expect(partSizeFor(4 * 1024 ** 4)).toBe(467 * 1024 * 1024);
    expect(Math.ceil((4 * 1024 ** 4) / partSizeFor(4 * 1024 ** 4))).toBeLessThanOrEqual(9000);
  });

  it('reads start and stop LSN, timeline and progress from pg_basebackup -v -P', () => {
    const info: Record<string, unknown> = {};
    for (const line of [
      'pg_basebackup: write-ahead log start point: 0/6000028 on timeline 3',
      '39655/40000 kB (99%), 0/1 tablespace (-.zst  )',
      'pg_basebackup: write-ahead log end point: 0/6000100',
    ])
      parseBaseBackupStderr(line, info);
    expect(info).toEqual({ startLsn: '0/6000028', timeline: 3, doneKB: 39655, totalKB: 40000, stopLsn: '0/6000100' });
  });

  it('names the stored object after its compression', () => {
    expect(['zstd', 'lz4', 'gzip', 'none'].map(objectNameFor)).toEqual(['base.tar.zst', 'base.tar.lz4', 'base.tar.gz', 'base.tar']);
  });
});

describe('backup ids from activity input', () => {
  it('refuses an id that could escape the scratch directory, before touching anything', async () => {
    const { verifyBaseBackup } = await import('../../activities/steps/basebackup.js');
    const { assertBackupId } = await import('../../domain/naming.js');
    expect(assertBackupId('20261120T224745224Z-F')).toBe('20261120T224745224Z-F');
    for (const bad of ['../../etc', '20261120T224745224Z-F/../../x', '', 'x']) {
      expect(() => assertBackupId(bad)).toThrow(`invalid backup id "${bad}": expected the form 20261120T224745224Z-F`);
    }
    const config = {
      storage: { bucket: 'b', prefix: 'p' },
      clusters: { c: { backup: { scratchDir: '/nonexistent-pgdr' }, nodes: { n: { osUser: 'postgres', binDir: '/x' } } } },
    } as any;
    await expect(
      verifyBaseBackup(
        { config, readSecret: () => '', s3: {} as any },
        { cluster: 'c', node: 'n', backupId: '../../../tmp', objectName: 'base.tar.zst', sha256: '', compression: 'zstd' },
      ),
    ).rejects.toThrow('invalid backup id "../../../tmp"');
  });
});
