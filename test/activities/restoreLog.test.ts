/**
 * The reason a restored server stopped, read from its log: the line of pgdr's archive tool that
 * names a corrupt object survives even when the server logs a long shutdown after it (a CI run
 * once lost it to a plain six-line tail).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logTail } from '../../activities/restore.js';

describe('restore log reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-restorelog-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the archive tool line and the FATAL line ahead of a long shutdown tail', () => {
    const key = 'test/c1/c1/wal/000000010000000000000003.zst';
    const lines = [
      'LOG:  starting point-in-time recovery to latest',
      `pgdr wal fetch: archived WAL object ${key} of cluster "c1" is corrupt: sha256 differs`,
      'FATAL:  could not restore file "000000010000000000000003" from archive: command not executable',
      ...Array.from({ length: 8 }, (_, i) => `LOG:  shutdown line ${i}`),
    ];
    writeFileSync(join(dir, 'pgdr-restore.log'), lines.join('\n') + '\n');
    const reason = logTail(dir);
    expect(reason).toContain(key);
    expect(reason).toContain('FATAL:  could not restore file');
    expect(reason).toContain('shutdown line 7');
    expect(reason).not.toContain('shutdown line 0');
    expect(reason.split(' | ').length).toBe(6);
  });

  it('says so when there is no log', () => {
    expect(logTail(join(dir, 'missing'))).toBe('(no log)');
  });
});
