/** The offsite copy's pure parts: what a run copies, which WAL names it takes, how far behind the secondary is; and its config. */
import { describe, expect, it } from 'vitest';
import { copyLag, copyPlan, pgbackrestCopyPlan, walToCopy } from '../../domain/copy.js';
import { parseConfig } from '../../config/load.js';
import { repositoryConfig, checkRepositoryChoice } from '../../config/repositories.js';
import { archiveCommands } from '../../config/archiveCommands.js';
import { clusterSchedules } from '../../control/inputs.js';
import { ConfigError, RepositoryNotConfiguredError } from '../../domain/errors.js';

const m = (id: string, startWalSegment: string, stopTime = '2026-11-30T10:00:00Z') => ({ id, startWalSegment, stopTime });

const config = (secondary?: Record<string, unknown>, method = 'basebackup') => ({
  storage: {
    endpoint: 'https://127.0.0.1:9000',
    bucket: 'pgdr',
    accessKeyId: { env: 'S3_KEY' },
    secretAccessKey: { env: 'S3_SECRET' },
    ...(secondary ? { secondary } : {}),
  },
  clusters: {
    main: {
      method,
      sslRootCert: '/etc/pgdr/ca.crt',
      archive: { configPath: '/etc/pgdr/pgdr.yaml' },
      nodes: { a: { dataDir: '/var/lib/pg/a' } },
    },
  },
});
const offsite = {
  endpoint: 'https://offsite.example:9000',
  bucket: 'pgdr-offsite',
  accessKeyId: { env: 'K2' },
  secretAccessKey: { env: 'S2' },
};

describe('copy plan', () => {
  it('copies each good backup the secondary lacks, oldest first, and the WAL from the oldest good backup on', () => {
    const good = [m('20261130T020000000Z-F', '000000010000000000000009'), m('20261129T020000000Z-F', '000000010000000000000004')];
    expect(copyPlan(good, new Set(['20261129T020000000Z-F']))).toEqual({
      backups: ['20261130T020000000Z-F'],
      walFrom: '000000010000000000000004',
      onSecondary: ['20261129T020000000Z-F'],
    });
    expect(copyPlan([], new Set())).toEqual({ backups: [], walFrom: null, onSecondary: [] });
  });

  it('pgbackrest: one backup into repo2 for the newest good backup when it has none there; older ones cannot be copied', () => {
    const g = (id: string, type: 'full' | 'incr') => ({ id, type });
    const good = [g('20261130T020000000Z-I', 'incr'), g('20261128T020000000Z-F', 'full'), g('20261129T020000000Z-I', 'incr')];
    expect(pgbackrestCopyPlan(good, new Set(['20261128T020000000Z-F']))).toEqual({
      backups: ['20261130T020000000Z-I'],
      walFrom: null,
      onSecondary: ['20261128T020000000Z-F'],
      take: { id: '20261130T020000000Z-I', type: 'incr' },
      uncopiable: ['20261129T020000000Z-I'],
    });
    expect(pgbackrestCopyPlan(good, new Set(['20261130T020000000Z-I']))).toMatchObject({ backups: [], take: null });
    expect(pgbackrestCopyPlan([], new Set())).toMatchObject({ backups: [], take: null, uncopiable: [] });
  });

  it('takes .history files and segments (and .backup, .partial) from walFrom on, nothing older', () => {
    const from = '000000010000000000000004';
    expect(walToCopy('000000010000000000000003.zst', from)).toBe(false);
    expect(walToCopy('000000010000000000000004.zst', from)).toBe(true);
    expect(walToCopy('000000010000000000000004.00000028.backup', from)).toBe(true);
    expect(walToCopy('000000020000000000000001.zst', from)).toBe(true);
    expect(walToCopy('00000002.history', from)).toBe(true);
    expect(walToCopy('README', from)).toBe(false);
  });

  it("measures the lag: backups without a copy (the oldest one's age) and segments past the newest copied", () => {
    const now = new Date('2026-11-30T12:00:00Z');
    const good = [m('a', '', '2026-11-30T10:00:00Z'), m('b', '', '2026-11-30T11:00:00Z')];
    const last = { backupsOnSecondary: ['a'], wal: { from: null, copied: 0, bytes: 0, newestOnSecondary: '000000010000000000000010' } };
    expect(copyLag(good, last, '000000010000000000000013', now)).toEqual({
      backupsMissing: 1,
      backupLagSeconds: 3600,
      walSegmentsBehind: 3,
    });
    expect(copyLag(good, { ...last, backupsOnSecondary: ['a', 'b'] }, '000000010000000000000010', now)).toEqual({
      backupsMissing: 0,
      backupLagSeconds: 0,
      walSegmentsBehind: 0,
    });
    // Another timeline cannot be compared segment by segment; no copy yet: everything is missing.
    expect(copyLag(good, last, '000000020000000000000011', now).walSegmentsBehind).toBeNull();
    expect(copyLag(good, undefined, null, now)).toEqual({ backupsMissing: 2, backupLagSeconds: 7200, walSegmentsBehind: null });
  });
});

describe('storage.secondary config', () => {
  it('takes a repository of its own, with the same checks and defaults as the primary, and a copy schedule', () => {
    const c = parseConfig(config(offsite));
    expect(c.storage.secondary).toMatchObject({ bucket: 'pgdr-offsite', prefix: 'pgdr', region: 'us-east-1', forcePathStyle: true });
    expect(c.storage.secondary!.copyCron).toBe('17 * * * *');
    expect(clusterSchedules(c, 'main').find((s) => s.procedure === 'copyBackup')).toEqual({
      name: 'copy-to-secondary',
      procedure: 'copyBackup',
      type: 'copy',
      cron: '17 * * * *',
    });
    expect(clusterSchedules(parseConfig(config({ ...offsite, copyCron: null })), 'main').some((s) => s.procedure === 'copyBackup')).toBe(
      false,
    );
    // A procedure on the secondary sees its storage as `storage`; restore_command fetches from it.
    expect(repositoryConfig(c, 'secondary').storage.bucket).toBe('pgdr-offsite');
    expect(repositoryConfig(c, 'primary')).toBe(c);
    expect(archiveCommands(c, 'main', 'secondary').restoreCommand).toMatch(
      / wal fetch --config \/etc\/pgdr\/pgdr.yaml --cluster main --repository secondary %f %p$/,
    );
    expect(archiveCommands(c, 'main').restoreCommand).not.toContain('--repository');
  });

  it('refuses bad fields by name and a secondary asked for without one; takes it with pgBackRest too', () => {
    const issues = (raw: unknown) => {
      try {
        parseConfig(raw, 'test.yaml');
      } catch (err) {
        return (err as ConfigError).issues;
      }
      throw new Error('accepted');
    };
    expect(issues(config({ ...offsite, accessKeyId: undefined }))).toContainEqual({
      field: 'storage.secondary.accessKeyId',
      message:
        'expected a secret reference beside secretAccessKey: set both keys, or neither to use the AWS default credential chain (got missing)',
    });
    expect(issues(config({ ...offsite, bucket: 'Bad_Bucket' }))[0]!.field).toBe('storage.secondary.bucket');
    // pgBackRest clusters take the secondary as repo2 (its pgBackRest limits are checked in test/config/storage.test.ts).
    expect(parseConfig(config(offsite, 'pgbackrest')).storage.secondary?.bucket).toBe('pgdr-offsite');
    const plain = parseConfig(config());
    expect(() => repositoryConfig(plain, 'secondary')).toThrow(RepositoryNotConfiguredError);
    expect(() => checkRepositoryChoice(plain, 'secondary')).toThrow(
      'repository is "secondary" but storage.secondary is not configured: expected "primary" or "auto", or a storage.secondary section in pgdr.yaml',
    );
    expect(() => checkRepositoryChoice(plain, 'auto')).not.toThrow();
  });
});
