import { describe, expect, it } from 'vitest';
import { judgeRestore, recoverySettings, type RestorableBackup } from '../../domain/restore.js';
import { UnsafeConfValueError } from '../../domain/errors.js';
import { freeDestination } from '../helpers/restoreFacts.js';

const backup = (method: 'basebackup' | 'pgbackrest'): RestorableBackup => ({
  id: '20261120T100000000Z-F',
  method,
  type: 'full',
  timeline: 1,
  startLsn: '0/2000028',
  stopLsn: '0/2000100',
  startWalSegment: '000000010000000000000002',
  stopTime: '2026-11-20T10:00:05.000Z',
  compression: 'zstd',
  bytes: 1,
  objects: [{ name: 'base.tar.zst', bytes: 1, sha256: 'x' }],
});

const judge = (name: string, method: 'basebackup' | 'pgbackrest', found = true) =>
  judgeRestore({
    request: {
      cluster: 'c1',
      target: { name },
      destination: { node: 'n1', dataDir: '/r/x', port: 55432 },
      action: 'pause',
      inclusive: true,
      replaceExisting: false,
    },
    backups: [backup(method)],
    archive: { timeline: 1, lastSegment: '00000001000000000000000A', missing: [], missingHistory: [] },
    lastCommit: { lsn: '0/A000200', time: '2026-11-20T13:00:00.123456Z' },
    restorePoint: found ? { lsn: '0/5000060', time: null } : null,
    destination: freeDestination,
    now: new Date('2026-11-20T14:00:00Z'),
  });

const settings = (name: string) =>
  recoverySettings(
    { kind: 'name', value: name, inclusive: true, action: 'pause' },
    { restoreCommand: 'pgdr wal fetch %f %p', port: 55433, keepArchiving: false, marker: 'm' },
  );

describe('restore point names in the pre-flight and the recovery settings', () => {
  it.each([
    [' qa-lead', "recovery_target_name = ' qa-lead'"],
    ['qa-trail ', "recovery_target_name = 'qa-trail '"],
    ['qa\\tb', "recovery_target_name = 'qa\\\\tb'"],
    ['qa-bs\\', "recovery_target_name = 'qa-bs\\\\'"],
    ["it's", "recovery_target_name = 'it''s'"],
  ])('writes %j as postgresql.conf reads it back', (name, line) => {
    expect(settings(name)).toContain(line);
  });

  it('refuses to write a name with a line break, which would add a setting of its own', () => {
    expect(() => settings("x'\nrecovery_target_action = 'promote")).toThrow(UnsafeConfValueError);
  });

  it('plans any valid name with the basebackup method', () => {
    for (const name of [' qa-lead', 'qa-bs\\', "it's"]) expect(judge(name, 'basebackup').problems).toEqual([]);
  });

  it('refuses with the pgbackrest method a name holding a backslash or a quote, saying why', () => {
    expect(judge(' qa-lead', 'pgbackrest').problems).toEqual([]);
    expect(judge('qa-bs\\', 'pgbackrest')).toEqual({
      plan: null,
      problems: [
        'restore point "qa-bs\\\\" cannot be handed to pgBackRest for backup 20261120T100000000Z-F: it holds a backslash at offset 5, which pgBackRest writes into postgresql.auto.conf unescaped; expected a name without \' or \\ with the pgbackrest method',
      ],
    });
    expect(judge("it's", 'pgbackrest').problems[0]).toContain('it holds a single quote at offset 2');
  });

  it('refuses a name Postgres could not take before looking any further', () => {
    expect(judge('x'.repeat(64), 'basebackup').problems).toEqual([
      `restore point "${'x'.repeat(64)}" cannot be used: it is 64 bytes long, over the 63 Postgres allows; expected 1-63 bytes (UTF-8) without control characters; leading and trailing spaces count`,
    ]);
    expect(judge('a\nb', 'basebackup', false).problems[0]).toContain('cannot be used: it holds the control character U+000A at offset 1');
  });

  it('names a restore point that was not found exactly as asked', () => {
    expect(judge('qa-lead', 'basebackup', false).problems).toEqual([
      'restore point "qa-lead" was not found in the archived WAL up to 00000001000000000000000A',
    ]);
  });
});
