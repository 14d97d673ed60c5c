/** S3 Object Lock, the pure part: the retain-until date, the config rules, and how a retention plan holds locked backups. */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../config/load.js';
import { ConfigError } from '../../domain/errors.js';
import { holdLockedBackups, lockRetainUntil, LOCK_MARGIN_SECONDS } from '../../domain/objectLock.js';
import { planRetention } from '../../domain/retention.js';
import type { CatalogEntry } from '../../domain/catalog.js';
import { objectLockParams } from '../../adapters/storage.js';

const config = (storage: Record<string, unknown>, cluster: Record<string, unknown> = {}) => ({
  storage: { endpoint: 'https://127.0.0.1:9000', bucket: 'pgdr', ...storage },
  clusters: { main: { sslmode: 'disable', nodes: { a: { dataDir: '/var/lib/pg/a' } }, ...cluster } },
});

function issues(storage: Record<string, unknown>, cluster: Record<string, unknown> = {}): { field: string; message: string }[] {
  try {
    parseConfig(config(storage, cluster), 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('config was accepted');
}

describe('the lock date', () => {
  it('is the write time plus days plus a one-day margin, rounded up to the second', () => {
    const at = new Date('2026-12-01T10:00:00.250Z');
    expect(LOCK_MARGIN_SECONDS).toBe(86_400);
    expect(lockRetainUntil({ mode: 'governance', days: 7 }, at).toISOString()).toBe('2026-12-09T10:00:01.000Z');
    expect(lockRetainUntil({ mode: 'compliance', days: 1 }, new Date('2026-12-31T23:00:00Z')).toISOString()).toBe(
      '2027-01-02T23:00:00.000Z',
    );
  });

  it('becomes the S3 request fields in one place, and none without objectLock', () => {
    const at = new Date('2026-12-01T10:00:00Z');
    expect(objectLockParams({ objectLock: { mode: 'compliance', days: 30 } }, at)).toEqual({
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: new Date('2027-01-01T10:00:00Z'),
    });
    expect(objectLockParams({ objectLock: { mode: 'governance', days: 30 } }, at).ObjectLockMode).toBe('GOVERNANCE');
    expect(objectLockParams({ objectLock: undefined }, at)).toEqual({});
  });

  it('is never bypassed: no pgdr source sets BypassGovernanceRetention or its header', () => {
    const root = join(__dirname, '..', '..');
    const hits: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && /BypassGovernanceRetention\s*:|bypass-governance-retention/i.test(readFileSync(p, 'utf8')))
          hits.push(p);
      }
    };
    for (const dir of ['domain', 'config', 'adapters', 'activities', 'workflows', 'control', 'api', 'cli', 'worker', 'archive'])
      walk(join(root, dir));
    expect(hits).toEqual([]);
  });
});

describe('objectLock config', () => {
  it('takes a mode and whole days, and is off by default', () => {
    expect(parseConfig(config({})).storage.objectLock).toBeUndefined();
    const c = parseConfig(config({ objectLock: { mode: 'compliance', days: 10 } }));
    expect(c.storage.objectLock).toEqual({ mode: 'compliance', days: 10 });
  });

  it.each([
    [{ mode: 'legal-hold', days: 10 }, 'storage.objectLock.mode', /expected one of "governance"\|"compliance"/],
    [{ mode: 'governance', days: 0 }, 'storage.objectLock.days', />=1/],
    [{ mode: 'governance', days: 2.5 }, 'storage.objectLock.days', /expected int/],
    [{ mode: 'governance' }, 'storage.objectLock.days', /expected number/],
  ])('refuses %j, naming the field and the expected form', (lock, field, message) => {
    const found = issues({ objectLock: lock }, { retention: { minWindow: '0s' } });
    expect(found.map((i) => i.field)).toEqual([field]);
    expect(found[0]!.message).toMatch(message);
  });

  it('refuses a lock shorter than what retention promises, naming the days, the promise and the cluster', () => {
    // minWindow defaults to 7d.
    expect(issues({ objectLock: { mode: 'governance', days: 3 } })).toEqual([
      {
        field: 'storage.objectLock.days',
        message:
          'expected at least 7 days, as retention.minWindow (7d) promises that much history: a shorter lock leaves part of it deletable (cluster main) (got 3)',
      },
    ]);
    expect(issues({ objectLock: { mode: 'governance', days: 10 } }, { retention: { recoveryWindowDays: 14 } })).toEqual([
      {
        field: 'storage.objectLock.days',
        message:
          'expected at least 14 days, as retention.recoveryWindowDays 14 promises that much history: a shorter lock leaves part of it deletable (cluster main) (got 10)',
      },
    ]);
    expect(
      parseConfig(config({ objectLock: { mode: 'governance', days: 1 } }, { retention: { minWindow: '0s' } })).storage.objectLock,
    ).toEqual({ mode: 'governance', days: 1 });
  });

  it('refuses objectLock for a pgbackrest cluster: its repository cannot be locked object by object', () => {
    expect(issues({ objectLock: { mode: 'governance', days: 7 } }, { method: 'pgbackrest' })).toEqual([
      {
        field: 'storage.objectLock',
        message:
          'expected no objectLock: cluster main uses pgBackRest, whose repository pgdr cannot lock object by object (got {"mode":"governance","days":7})',
      },
    ]);
  });
});

const full = (id: string, startWalSegment: string, stopTime: string): CatalogEntry =>
  ({ id, status: 'good', manifest: { id, type: 'full', startWalSegment, stopTime } }) as unknown as CatalogEntry;

describe('a retention plan with locks', () => {
  const now = new Date('2026-12-10T00:00:00Z');
  const catalog = [
    full('20261201T000000Z', '000000010000000000000010', '2026-12-01T00:10:00Z'),
    full('20261202T000000Z', '000000010000000000000020', '2026-12-02T00:10:00Z'),
    full('20261203T000000Z', '000000010000000000000030', '2026-12-03T00:10:00Z'),
  ];
  const plan = planRetention(catalog, { fullCount: 1 }, now);

  it('holds an expirable backup whose lock has not ended, with its date, and keeps the WAL it needs', () => {
    expect(plan.expire.map((e) => e.id)).toEqual(['20261201T000000Z', '20261202T000000Z']);
    const held = holdLockedBackups(
      plan,
      catalog,
      {
        '20261201T000000Z': { retainUntil: '2026-12-09T00:00:00.000Z', mode: 'governance' },
        '20261202T000000Z': { retainUntil: '2026-12-11T00:00:00.000Z', mode: 'compliance' },
        '20261203T000000Z': { retainUntil: '2026-12-12T00:00:00.000Z', mode: 'compliance' },
      },
      now,
    );
    expect(held.expire.map((e) => e.id)).toEqual(['20261201T000000Z']);
    expect(held.keep).toEqual(['20261202T000000Z', '20261203T000000Z']);
    expect(held.heldByLock).toEqual([
      {
        id: '20261202T000000Z',
        retainUntil: '2026-12-11T00:00:00.000Z',
        reason:
          'locked until 2026-12-11T00:00:00.000Z (compliance): older than the oldest kept full 20261203T000000Z, so it is expired once the lock ends',
      },
    ]);
    expect(held.walCutoff).toBe('000000010000000000000020');
    expect(held.locks!['20261201T000000Z']!.retainUntil).toBe('2026-12-09T00:00:00.000Z');
  });

  it('changes nothing once every lock has ended, or for backups with no lock', () => {
    const held = holdLockedBackups(
      plan,
      catalog,
      {
        '20261201T000000Z': { retainUntil: null, mode: null },
        '20261202T000000Z': { retainUntil: '2026-12-10T00:00:00.000Z', mode: 'governance' },
      },
      now,
    );
    expect(held.expire).toEqual(plan.expire);
    expect(held.keep).toEqual(plan.keep);
    expect(held.walCutoff).toBe(plan.walCutoff);
    expect(held.heldByLock).toEqual([]);
  });
});
