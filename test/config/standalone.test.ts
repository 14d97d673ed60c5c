/** The break-glass storage config: checked with pgdr.yaml's own sections, and turned into a one-node PgdrConfig. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { stringify } from 'yaml';
import { ConfigError } from '../../domain/errors.js';
import { isStandaloneConfig, loadAnyConfig, standalonePgdrConfig, STANDALONE_NODE } from '../../config/standalone.js';
import { archiveCommands } from '../../config/archiveCommands.js';

const storage = {
  endpoint: 'https://127.0.0.1:9000',
  bucket: 'pgdr',
  prefix: 'prod/pgdr',
  caFile: '/etc/pgdr/ca.pem',
  accessKeyId: { file: '/etc/pgdr/s3-access-key' },
  secretAccessKey: { file: '/etc/pgdr/s3-secret-key' },
};
const small = {
  cluster: 'orders',
  storage,
  encryption: { identities: [{ file: '/etc/pgdr/age.key' }] },
  restore: { dir: '/srv/restores' },
  connection: { user: 'pgdr', password: { file: '/etc/pgdr/pg-password' }, sslRootCert: '/etc/pgdr/pg-ca.pem' },
};

function issues(raw: unknown): string[] {
  try {
    standalonePgdrConfig(raw, '/etc/pgdr/storage.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.field}: ${i.message}`);
  }
  throw new Error('expected the config to be refused');
}

describe('standalone storage config', () => {
  it('makes one cluster with one node, this host, that fetches WAL with the same file', () => {
    const config = standalonePgdrConfig(small, '/etc/pgdr/storage.yaml', { address: '127.0.0.1:41234' });
    expect(config.temporal.address).toBe('127.0.0.1:41234');
    expect(config.storage).toMatchObject({ ...storage, region: 'us-east-1', forcePathStyle: true });
    const c = config.clusters.orders!;
    expect(Object.keys(c.nodes)).toEqual([STANDALONE_NODE]);
    expect(c.nodes[STANDALONE_NODE]).toMatchObject({ osUser: 'postgres', binDir: '/usr/lib/postgresql/15/bin' });
    expect(c.restore).toMatchObject({ node: STANDALONE_NODE, dir: '/srv/restores' });
    expect(c.encryption.identities).toEqual([{ file: '/etc/pgdr/age.key' }]);
    expect(c.drill.cron).toBeNull();
    expect(c).toMatchObject({
      user: 'pgdr',
      password: { file: '/etc/pgdr/pg-password' },
      sslmode: 'verify-full',
      sslRootCert: '/etc/pgdr/pg-ca.pem',
    });
    expect(c).toMatchObject({
      user: 'pgdr',
      password: { file: '/etc/pgdr/pg-password' },
      sslmode: 'verify-full',
      sslRootCert: '/etc/pgdr/pg-ca.pem',
    });
    expect(archiveCommands(config, 'orders').restoreCommand).toContain('wal fetch --config /etc/pgdr/storage.yaml --cluster orders %f %p');
  });

  it('names the field, the value and the expected form of each mistake', () => {
    const found = issues({
      cluster: 'Orders',
      storage: { ...storage, bucket: 'Bad_Bucket', accessKeyId: 'AKIAPLAINKEY' },
      node: { binDir: 'bin', port: 5432 },
      encryption: { identities: ['AGE-SECRET-KEY-1QQQ'], recipients: [] },
      restore: { node: 'db1' },
    });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^cluster: expected the cluster's name .*\(got "Orders"\)$/),
        expect.stringMatching(/^storage\.bucket: expected an S3 bucket name .*\(got "Bad_Bucket"\)$/),
        expect.stringMatching(/^storage\.accessKeyId: expected a secret reference .*\(got "AKIAPLAINKEY"\)$/),
        expect.stringMatching(/^node\.binDir: .*\(got "bin"\)$/),
        expect.stringMatching(/^node: unrecognized key.*"port"/),
        expect.stringMatching(/^encryption: unrecognized key.*"recipients"/),
        expect.stringMatching(/^restore\.node: expected no node .*got "db1"/),
      ]),
    );
    // An identity pasted in place of a reference is never echoed.
    expect(found.join('\n')).not.toContain('AGE-SECRET-KEY-1QQQ');
    expect(issues({ storage })).toEqual([expect.stringMatching(/^cluster: .*\(got missing\)$/)]);
    // The main schema's own checks, named as in the small file.
    expect(issues({ cluster: 'orders', storage })).toEqual([expect.stringMatching(/^connection\.sslRootCert: expected sslRootCert/)]);
  });

  it('pgdr wal fetch --config reads either pgdr.yaml or a standalone config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-standalone-'));
    try {
      const file = join(dir, 'storage.yaml');
      writeFileSync(file, stringify(small));
      expect(isStandaloneConfig(small)).toBe(true);
      expect(Object.keys(loadAnyConfig(file, {}).clusters)).toEqual(['orders']);
      const full = join(dir, 'pgdr.yaml');
      writeFileSync(
        full,
        stringify({ storage, clusters: { main: { sslmode: 'disable', nodes: { a: { dataDir: '/var/lib/postgresql/15/main' } } } } }),
      );
      expect(Object.keys(loadAnyConfig(full, {}).clusters)).toEqual(['main']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
