import { describe, expect, it } from 'vitest';
import {
  PG_MAJORS,
  basebackupCompressArgs,
  formatVersionNum,
  judgeToolVersions,
  majorOf,
  parseToolVersion,
  pgdrGrantsSql,
  requireSupported,
  traitsOf,
} from '../../domain/pgVersions.js';
import { PgVersionMismatchError, PgVersionUnsupportedError } from '../../domain/errors.js';

describe('PostgreSQL versions', () => {
  it('reads server_version_num and the tools’ --version lines', () => {
    expect(majorOf(150010)).toBe(15);
    expect(formatVersionNum(150010)).toBe('15.10');
    expect(formatVersionNum(170000)).toBe('17.0');
    expect(parseToolVersion('pg_ctl (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)\n')).toEqual({ text: '15.10', major: 15 });
    expect(parseToolVersion('pg_ctl (PostgreSQL) 16.4\n')).toEqual({ text: '16.4', major: 16 });
    expect(parseToolVersion('postgres (PostgreSQL) 18beta1')).toEqual({ text: '18beta1', major: 18 });
    expect(parseToolVersion('pg_ctl 15')).toBeUndefined();
  });

  it('supports 15 to 17, each a row of the table, and refuses other majors naming the supported ones', () => {
    expect(PG_MAJORS.map((m) => m.major)).toEqual([15, 16, 17]);
    expect(traitsOf(15)?.tested).toBe(true);
    expect(requireSupported('c1', 'backup B1', 160004).major).toBe(16);
    const err = (() => {
      try {
        requireSupported('c1', 'the server of node "primary"', 140011);
      } catch (e) {
        return e as PgVersionUnsupportedError;
      }
    })();
    expect(err).toBeInstanceOf(PgVersionUnsupportedError);
    expect(err!.code).toBe('PG_VERSION_UNSUPPORTED');
    expect(err!.message).toBe(
      'the server of node "primary" of cluster "c1" is PostgreSQL 14.11 (140011): pgdr supports PostgreSQL 15, 16, 17; nothing was created\n' +
        'HINT: the supported versions are in the README (PostgreSQL versions)',
    );
  });

  it('refuses a tool of another major, naming the tool, both versions and the binDir to use', () => {
    const judge = (output: string) => () =>
      judgeToolVersions({
        cluster: 'c1',
        node: 'primary',
        tools: [
          { tool: 'pg_ctl in /opt/pg/bin', output },
          { tool: 'pg_basebackup in /opt/pg/bin', output: 'pg_basebackup (PostgreSQL) 15.10' },
        ],
        against: 'the server of node "primary"',
        versionNum: 150010,
      });
    expect(judge('pg_ctl (PostgreSQL) 15.4')).not.toThrow();
    expect(judge('pg_ctl (PostgreSQL) 16.4')).toThrow(PgVersionMismatchError);
    expect(judge('pg_ctl (PostgreSQL) 16.4')).toThrow(
      'pg_ctl in /opt/pg/bin on node "primary" of cluster "c1" is PostgreSQL 16.4, but the server of node "primary" is PostgreSQL 15.10: ' +
        'the tools must be of the same major version (15); nothing was created\n' +
        "HINT: point the node's binDir at the PostgreSQL 15 tools (Debian: /usr/lib/postgresql/15/bin)",
    );
    expect(judge('something else entirely')).toThrow('is PostgreSQL unknown (it printed "something else entirely")');
  });

  it('keeps the version-dependent spellings in the table: compression option and the pgdr role grants', () => {
    const t15 = traitsOf(15)!;
    expect(basebackupCompressArgs(t15, 'zstd', 3)).toEqual(['--compress=client-zstd:level=3']);
    expect(basebackupCompressArgs(t15, 'lz4', undefined)).toEqual(['--compress=client-lz4']);
    expect(basebackupCompressArgs(t15, 'none', 3)).toEqual([]);
    const sql = pgdrGrantsSql(t15);
    expect(sql).toContain('grant pg_monitor, pg_checkpoint to pgdr;');
    expect(sql).toContain('pg_backup_start(text, boolean), pg_backup_stop(boolean)');
    expect(sql).toContain('grant alter system on parameter archive_mode, archive_command, restore_command');
  });
});
