import { describe, expect, it } from 'vitest';
import {
  BACKUP_ID_PATTERN,
  DRILL_RESTORE_WORKFLOW_ID_PATTERN,
  NAME_PATTERN,
  RESTORE_ID_PATTERN,
  SET_ASIDE_PATTERN,
  WORKFLOW_ID_PATTERN,
  assertBackupId,
  backupId,
  drillDirs,
  drillRestoreWorkflowId,
  droppingDir,
  failedLogName,
  historyFileName,
  restoreDataDir,
  restoreId,
  scheduleCluster,
  scheduleId,
  scheduledWorkflowId,
  setAsideName,
} from '../../domain/naming.js';

const at = new Date('2026-11-20T22:47:45.224Z');

describe('naming', () => {
  it('accepts a cluster or node name of 1-40 lowercase letters, digits, "-" or "_" that starts with a letter, and nothing else', () => {
    for (const ok of ['a', 'main', 'pg-1', 'n_2', 'a'.repeat(40)]) expect(NAME_PATTERN.test(ok), ok).toBe(true);
    for (const bad of ['', 'Main', '1a', '-a', 'a.b', 'a/b', 'a b', 'a'.repeat(41)]) expect(NAME_PATTERN.test(bad), bad).toBe(false);
  });

  it('derives backup and restore ids from the time, and their patterns match exactly those ids', () => {
    expect(restoreId(at)).toBe('20261120T224745224Z');
    expect(backupId(at, 'full')).toBe('20261120T224745224Z-F');
    expect(backupId(at, 'diff')).toBe('20261120T224745224Z-D');
    expect(backupId(at, 'incr')).toBe('20261120T224745224Z-I');
    expect(RESTORE_ID_PATTERN.test(restoreId(at))).toBe(true);
    expect(RESTORE_ID_PATTERN.test(backupId(at, 'full'))).toBe(false);
    expect(BACKUP_ID_PATTERN.test(backupId(at, 'incr'))).toBe(true);
    expect(BACKUP_ID_PATTERN.test(restoreId(at))).toBe(false);
    expect(() => assertBackupId('../x')).toThrow('invalid backup id "../x": expected the form 20261120T224745224Z-F');
  });

  it('names the set-aside directory so that only a timestamp-id set-aside matches the removal pattern', () => {
    expect(setAsideName('/pg/main/', restoreId(at))).toBe('/pg/main.pgdr-old-20261120T224745224Z');
    expect(SET_ASIDE_PATTERN.test(setAsideName('/pg/main', restoreId(at)))).toBe(true);
    expect(SET_ASIDE_PATTERN.test('/pg/main.pgdr-old-x')).toBe(false);
    expect(SET_ASIDE_PATTERN.test('/pg/mainXpgdr-old-20261120T224745224Z')).toBe(false);
    expect(failedLogName('/r/c1-x/', at, 'abc123')).toBe('/r/c1-x.pgdr-failed-20261120T224745224Z-abc123.log');
    expect(droppingDir('/r/c1-x/', restoreId(at))).toBe('/r/c1-x.pgdr-drop-20261120T224745224Z');
  });

  it("names the directories of a restore and of a drill's scratch copies under restore.dir", () => {
    expect(restoreDataDir('/r/', 'main', restoreId(at))).toBe('/r/main-20261120T224745224Z');
    expect(drillDirs('/r/', 'main', restoreId(at), 1)).toEqual({
      dataDir: '/r/main-drill-20261120T224745224Z-1',
      socketDir: '/tmp/pgdr-drill-20261120T224745224Z-1',
    });
  });

  it('names a timeline history file with the timeline in eight upper-case hex digits', () => {
    expect(historyFileName(2)).toBe('00000002.history');
    expect(historyFileName(26)).toBe('0000001A.history');
  });

  it('derives schedule and drill workflow ids that the workflow id pattern accepts', () => {
    expect(scheduledWorkflowId('backup', 'main', 'weekly')).toBe('backup/main/schedule-weekly');
    expect(scheduleCluster(scheduleId('main', 'weekly'))).toBe('main');
    expect(scheduleCluster('someone-else/main/weekly')).toBeNull();
    expect(drillRestoreWorkflowId('main', restoreId(at), 0)).toBe('pitrRestore/main/drill-20261120T224745224Z-0');
    expect(WORKFLOW_ID_PATTERN.test(`${scheduledWorkflowId('backup', 'main', 'weekly')}-2026-11-20T22:47:45Z`)).toBe(true);
    expect(WORKFLOW_ID_PATTERN.test(drillRestoreWorkflowId('main', restoreId(at), 1))).toBe(true);
    expect(DRILL_RESTORE_WORKFLOW_ID_PATTERN.test(drillRestoreWorkflowId('main', restoreId(at), 1))).toBe(true);
    expect(DRILL_RESTORE_WORKFLOW_ID_PATTERN.test(`pitrRestore/main/${restoreId(at)}-abc123`)).toBe(false);
    expect(WORKFLOW_ID_PATTERN.test('backup/Main/x')).toBe(false);
  });
});
