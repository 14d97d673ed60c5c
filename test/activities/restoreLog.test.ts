/**
 * The reason a restored server stopped, read from its log: the line of pgdr's archive tool that
 * names a corrupt object survives even when the server logs a long shutdown after it (a CI run
 * once lost it to a plain six-line tail).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logTail } from '../../activities/steps/restore.js';

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

describe('a destination removed under a running restore', () => {
  it('is named as lost, not blamed on the archive or the backup', async () => {
    const { MockActivityEnvironment } = await import('@temporalio/testing');
    const { awaitRecoveryTarget } = await import('../../activities/steps/restore.js');
    const { DestinationLostError } = await import('../../domain/errors.js');
    const gone = mkdtempSync(join(tmpdir(), 'pgdr-lost-'));
    rmSync(gone, { recursive: true, force: true });
    const config = { clusters: { c1: { nodes: { n1: { host: '127.0.0.1', port: 5432, dataDir: '/srv/pg/n1' } } } } } as never;
    const err = await new MockActivityEnvironment()
      .run(awaitRecoveryTarget, { config } as never, {
        cluster: 'c1',
        node: 'n1',
        dataDir: gone,
        port: 1,
        action: 'pause' as const,
        target: 'latest',
        timeoutSeconds: 5,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DestinationLostError);
    expect((err as Error).message).toBe(
      `destination n1:${gone} of cluster "c1" was removed or emptied while the restore ran (last replayed lsn unknown); the backup and the archive are not to blame\nHINT: something outside pgdr deleted the directory; find out what, then restore again`,
    );
  });
});
