/**
 * The storage section: optional static keys (both or neither), optional endpoint (AWS S3, then
 * a region), server-side encryption, and what the pgBackRest config makes of them.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import { ConfigError } from '../../domain/errors.js';
import { confAsEnv, pgbackrestConf, pgbackrestS3Env } from '../../adapters/pgbackrest.js';
import { sseParams, storageEndpoint } from '../../adapters/storage.js';

const base = (storage: Record<string, unknown>, method = 'basebackup') => ({
  storage: { bucket: 'pgdr', ...storage },
  clusters: { main: { method, sslRootCert: '/etc/pgdr/pg-ca.crt', nodes: { a: { dataDir: '/var/lib/pg/a' } } } },
});
const keys = { accessKeyId: { env: 'S3_KEY' }, secretAccessKey: { env: 'S3_SECRET' } };

function issues(raw: unknown): { field: string; message: string }[] {
  try {
    parseConfig(raw, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('config was accepted');
}

describe('storage config', () => {
  it('accepts a config without keys or endpoint: AWS S3 in the given region, virtual-hosted, the default chain', () => {
    const s = parseConfig(base({ region: 'eu-west-1' })).storage;
    expect(s).toMatchObject({ region: 'eu-west-1', forcePathStyle: false, serverSideEncryption: 'none' });
    expect(s.endpoint).toBeUndefined();
    expect(s.accessKeyId).toBeUndefined();
    expect(storageEndpoint(s)).toBe('https://s3.eu-west-1.amazonaws.com');
  });

  it('keeps path style and us-east-1 as the defaults with an endpoint, and an explicit forcePathStyle wins', () => {
    expect(parseConfig(base({ endpoint: 'https://minio:9000', ...keys })).storage).toMatchObject({
      region: 'us-east-1',
      forcePathStyle: true,
    });
    expect(parseConfig(base({ endpoint: 'https://minio:9000', forcePathStyle: false })).storage.forcePathStyle).toBe(false);
    expect(parseConfig(base({ region: 'eu-west-1', forcePathStyle: true })).storage.forcePathStyle).toBe(true);
  });

  it.each([
    [
      'an access key without its secret',
      { endpoint: 'https://m:9000', accessKeyId: { env: 'K' } },
      'storage.secretAccessKey',
      'beside accessKeyId',
    ],
    [
      'a secret without its access key',
      { endpoint: 'https://m:9000', secretAccessKey: { env: 'S' } },
      'storage.accessKeyId',
      'beside secretAccessKey',
    ],
    [
      'no endpoint and no region',
      {},
      'storage.region',
      "expected the bucket's AWS region (e.g. eu-west-1) when no endpoint is set (got missing)",
    ],
    [
      'a KMS key without kms encryption',
      { region: 'eu-west-1', serverSideEncryption: 'aes256', kmsKeyId: 'k1' },
      'storage.kmsKeyId',
      'expected no kmsKeyId unless serverSideEncryption is "kms" (it is "aes256") (got "k1")',
    ],
    ['a KMS key with no encryption asked', { region: 'eu-west-1', kmsKeyId: 'k1' }, 'storage.kmsKeyId', '(it is "none")'],
    [
      'an unknown encryption',
      { region: 'eu-west-1', serverSideEncryption: 'sse-c' },
      'storage.serverSideEncryption',
      '"none"|"aes256"|"kms"',
    ],
  ])('rejects %s, naming the field', (_what, storage, field, message) => {
    const found = issues(base(storage));
    expect(found.map((i) => i.field)).toEqual([field]);
    expect(found[0]!.message).toContain(message);
  });

  it.each([
    [
      'aes256',
      { serverSideEncryption: 'aes256' },
      'storage.serverSideEncryption',
      'cluster main uses pgBackRest, which cannot request aes256',
    ],
    [
      'kms without a key id',
      { serverSideEncryption: 'kms' },
      'storage.kmsKeyId',
      'cluster main uses pgBackRest, which needs the key named',
    ],
  ])('rejects %s when a cluster uses pgBackRest', (_what, sse, field, message) => {
    const found = issues(base({ region: 'eu-west-1', ...sse }, 'pgbackrest'));
    expect(found.map((i) => i.field)).toEqual([field]);
    expect(found[0]!.message).toContain(message);
    // The same storage is fine for pg_basebackup clusters.
    expect(() => parseConfig(base({ region: 'eu-west-1', ...sse }))).not.toThrow();
  });

  it('refuses credentials inside the endpoint URL, naming the field and never echoing them', () => {
    const found = issues(base({ endpoint: 'https://AKIAEXAMPLE:s3cr3t-value@minio.example:9000', ...keys }));
    expect(found).toEqual([
      {
        field: 'storage.endpoint',
        message: 'expected a URL without user:password@ (credentials belong in secret refs) (got "https://***@minio.example:9000")',
      },
    ]);
    expect(JSON.stringify(found)).not.toContain('s3cr3t');
    // A "/" or a second "@" in the password, or no scheme at all: still never echoed.
    for (const endpoint of ['https://AK:pa/ss@minio.example:9000', 'https://AK:p@ss@minio.example:9000', 'AK:s3cr3t@minio.example:9000']) {
      const shown = JSON.stringify(issues(base({ endpoint, ...keys })));
      expect(shown).toContain('storage.endpoint');
      expect(shown).not.toMatch(/pa\/ss|p@ss|ss@minio|s3cr3t/);
    }
  });

  it('turns the encryption setting into the S3 request fields', () => {
    const sse = (s: Record<string, unknown>) => sseParams(parseConfig(base({ region: 'eu-west-1', ...s })).storage);
    expect(sse({})).toEqual({});
    expect(sse({ serverSideEncryption: 'aes256' })).toEqual({ ServerSideEncryption: 'AES256' });
    expect(sse({ serverSideEncryption: 'kms' })).toEqual({ ServerSideEncryption: 'aws:kms' });
    expect(sse({ serverSideEncryption: 'kms', kmsKeyId: 'alias/pgdr' })).toEqual({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'alias/pgdr',
    });
  });
});

describe('pgBackRest storage settings', () => {
  const conf = (storage: Record<string, unknown>) => {
    const config = parseConfig(base(storage, 'pgbackrest'));
    return pgbackrestConf(config, 'main', 'a').split('\n');
  };
  const read = (ref: { env?: string }) => `value-of-${ref.env}`;

  it('addresses AWS S3 at the regional endpoint, host style, when no endpoint is set', () => {
    const lines = conf({ region: 'eu-central-1' });
    expect(lines).toEqual(
      expect.arrayContaining([
        'repo1-s3-endpoint=s3.eu-central-1.amazonaws.com',
        'repo1-storage-port=443',
        'repo1-s3-region=eu-central-1',
        'repo1-s3-uri-style=host',
      ]),
    );
    expect(lines.filter((l) => l.startsWith('repo1-s3-kms-key-id'))).toEqual([]);
  });

  it('asks for SSE-KMS with the configured key, and puts no credential in the file', () => {
    const lines = conf({ endpoint: 'https://minio.example:9000', ...keys, serverSideEncryption: 'kms', kmsKeyId: 'pgdr-key' });
    expect(lines).toContain('repo1-s3-kms-key-id=pgdr-key');
    expect(lines).toContain('repo1-s3-uri-style=path');
    expect(lines.join('\n')).not.toMatch(/s3-key=|key-secret|s3-token|key-type/);
  });

  it('signs in with static keys, else env keys and session token, else web identity, else the instance role', () => {
    const storage = (s: Record<string, unknown>) => parseConfig(base({ region: 'eu-west-1', ...s }, 'pgbackrest')).storage;
    expect(pgbackrestS3Env(storage(keys), read as never, { AWS_ACCESS_KEY_ID: 'ignored', AWS_SECRET_ACCESS_KEY: 'ignored' })).toEqual({
      PGBACKREST_REPO1_S3_KEY: 'value-of-S3_KEY',
      PGBACKREST_REPO1_S3_KEY_SECRET: 'value-of-S3_SECRET',
    });
    const env = { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_SESSION_TOKEN: 'TK', AWS_WEB_IDENTITY_TOKEN_FILE: '/t' };
    expect(pgbackrestS3Env(storage({}), read as never, env)).toEqual({
      PGBACKREST_REPO1_S3_KEY_TYPE: 'shared',
      PGBACKREST_REPO1_S3_KEY: 'AK',
      PGBACKREST_REPO1_S3_KEY_SECRET: 'SK',
      PGBACKREST_REPO1_S3_TOKEN: 'TK',
    });
    expect(pgbackrestS3Env(storage({}), read as never, { AWS_WEB_IDENTITY_TOKEN_FILE: '/t', AWS_ROLE_ARN: 'arn:r' })).toEqual({
      PGBACKREST_REPO1_S3_KEY_TYPE: 'web-id',
    });
    expect(pgbackrestS3Env(storage({}), read as never, {})).toEqual({ PGBACKREST_REPO1_S3_KEY_TYPE: 'auto' });
  });

  const secondary = {
    endpoint: 'https://offsite.example:9443',
    bucket: 'pgdr-offsite',
    prefix: 'dr',
    accessKeyId: { env: 'FAR_KEY' },
    secretAccessKey: { env: 'FAR_SECRET' },
    caFile: '/etc/pgdr/offsite-ca.crt',
  };

  it("makes storage.secondary pgBackRest's repo2, pushes WAL asynchronously to both, and signs in to each with its own keys", () => {
    const lines = conf({ endpoint: 'https://minio.example:9000', ...keys, secondary });
    expect(lines).toEqual(
      expect.arrayContaining([
        'repo1-s3-endpoint=minio.example',
        'repo1-path=/pgdr/main/pgbackrest',
        'repo2-type=s3',
        'repo2-s3-endpoint=offsite.example',
        'repo2-storage-port=9443',
        'repo2-s3-bucket=pgdr-offsite',
        'repo2-path=/dr/main/pgbackrest',
        'repo2-storage-ca-file=/etc/pgdr/offsite-ca.crt',
        'repo2-retention-full=9999999',
      ]),
    );
    expect(lines.join('\n')).not.toMatch(/s3-key=|key-secret|FAR_/);
    // archive-push and archive-get are asynchronous, with archive.parallel processes, in sections of
    // their own; a backup keeps its own process count.
    const text = lines.join('\n');
    const asyncWal = { PGBACKREST_ARCHIVE_ASYNC: 'y', PGBACKREST_PROCESS_MAX: '4', PGBACKREST_REPO2_S3_BUCKET: 'pgdr-offsite' };
    expect(confAsEnv(text, 'archive-push')).toMatchObject(asyncWal);
    expect(confAsEnv(text, 'archive-get')).toMatchObject(asyncWal);
    expect(confAsEnv(text, 'backup')).not.toHaveProperty('PGBACKREST_ARCHIVE_ASYNC');
    expect(confAsEnv(text, 'backup')).not.toHaveProperty('PGBACKREST_PROCESS_MAX');
    // With one repository too.
    expect(confAsEnv(conf({ endpoint: 'https://minio.example:9000', ...keys }).join('\n'), 'archive-push')).toMatchObject({
      PGBACKREST_ARCHIVE_ASYNC: 'y',
    });
    const storage = parseConfig(base({ endpoint: 'https://minio.example:9000', ...keys, secondary }, 'pgbackrest')).storage;
    expect(pgbackrestS3Env(storage, read as never, {})).toEqual({
      PGBACKREST_REPO1_S3_KEY: 'value-of-S3_KEY',
      PGBACKREST_REPO1_S3_KEY_SECRET: 'value-of-S3_SECRET',
      PGBACKREST_REPO2_S3_KEY: 'value-of-FAR_KEY',
      PGBACKREST_REPO2_S3_KEY_SECRET: 'value-of-FAR_SECRET',
    });
  });

  it.each([
    ['aes256', { serverSideEncryption: 'aes256' }, 'storage.secondary.serverSideEncryption'],
    ['an object lock', { objectLock: { mode: 'compliance', days: 30 } }, 'storage.secondary.objectLock'],
  ])('refuses %s on the secondary of a pgBackRest cluster, naming the field', (_what, extra, field) => {
    const found = issues(base({ endpoint: 'https://minio.example:9000', ...keys, secondary: { ...secondary, ...extra } }, 'pgbackrest'));
    expect(found.map((i) => i.field)).toContain(field);
    expect(found.find((i) => i.field === field)!.message).toContain('cluster main uses pgBackRest');
  });
});
