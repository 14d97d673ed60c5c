import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseConfig, loadConfig } from '../../config/load.js';
import { ConfigError } from '../../domain/errors.js';

/** verify-full, the default sslmode, needs the CA that signs the servers' certificates. */
const PG_CA = '/etc/pgdr/pg-ca.crt';

const valid = () => ({
  storage: {
    endpoint: 'https://127.0.0.1:9000',
    bucket: 'pgdr',
    accessKeyId: { env: 'S3_KEY' },
    secretAccessKey: { file: '/run/secrets/s3' },
  },
  clusters: { main: { sslRootCert: PG_CA, nodes: { a: { dataDir: '/var/lib/pg/a' } } } },
});

function rejection(mutate: (c: any) => void): ConfigError {
  const c = valid();
  mutate(c);
  try {
    parseConfig(c, 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('config was accepted');
}

describe('config', () => {
  it('fills defaults for a minimal valid config and freezes it', () => {
    const c = parseConfig(valid());
    expect(c.temporal.address).toBe('127.0.0.1:7233');
    expect(c.storage.prefix).toBe('pgdr');
    expect(c.storage.insecureSkipTlsVerify).toBe(false);
    expect(c.clusters.main!.nodes.a!.port).toBe(5432);
    expect(c.api.token).toEqual({ env: 'PGDR_API_TOKEN' });
    expect(Object.isFrozen(c.clusters.main!.nodes.a)).toBe(true);
  });

  it.each([
    ['a port out of range', (c: any) => (c.clusters.main.nodes.a.port = 70000), 'clusters.main.nodes.a.port', '70000'],
    ['a relative data directory', (c: any) => (c.clusters.main.nodes.a.dataDir = 'data'), 'clusters.main.nodes.a.dataDir', 'absolute path'],
    [
      'a data directory with ..',
      (c: any) => (c.clusters.main.nodes.a.dataDir = '/var/../etc'),
      'clusters.main.nodes.a.dataDir',
      'with no "." or ".." segment',
    ],
    [
      'a cluster name with capitals',
      (c: any) => (c.clusters = { Main: c.clusters.main }),
      'clusters.Main',
      'invalid name: expected a lowercase name',
    ],
    ['no clusters at all', (c: any) => (c.clusters = {}), 'clusters', 'at least one cluster'],
    ['a cluster without nodes', (c: any) => (c.clusters.main.nodes = {}), 'clusters.main.nodes', 'at least one node'],
    ['a malformed endpoint', (c: any) => (c.storage.endpoint = 'minio:9000'), 'storage.endpoint', 'http:// or https:// URL'],
    ['a bad bucket name', (c: any) => (c.storage.bucket = 'My_Bucket'), 'storage.bucket', 'bucket name'],
    [
      'a secret inlined instead of referenced',
      (c: any) => (c.storage.secretAccessKey = 'hunter2'),
      'storage.secretAccessKey',
      '{env: NAME} or {file: /path}',
    ],
    ['a missing storage section', (c: any) => delete c.storage, 'storage', 'missing'],
    [
      'a server manager without its cluster',
      (c: any) => (c.clusters.main.nodes.a.manager = 'pg_ctlcluster 15'),
      'clusters.main.nodes.a.manager',
      '"pg_ctlcluster <major version> <cluster name>" (e.g. "pg_ctlcluster 15 main")',
    ],
    ['an unknown key (typo)', (c: any) => (c.clusters.main.nodes.a.datadir = '/x'), 'clusters.main.nodes.a', 'datadir'],
    ['a temporal address without a port', (c: any) => (c.temporal = { address: 'localhost' }), 'temporal.address', 'host:port'],
    [
      'an unknown backup method',
      (c: any) => (c.clusters.main.method = 'barman'),
      'clusters.main.method',
      'expected one of "basebackup"|"pgbackrest"',
    ],
    [
      'a restore node the cluster does not have',
      (c: any) => (c.clusters.main.restore = { node: 'zz' }),
      'clusters.main.restore.node',
      'expected one of the cluster\'s nodes (a), got "zz"',
    ],
    [
      'a restore port range upside down',
      (c: any) => (c.clusters.main.restore = { portFrom: 6000, portTo: 5000 }),
      'clusters.main.restore.portTo',
      'expected portTo >= portFrom',
    ],
    [
      'a restore port range that includes a node port',
      (c: any) => (c.clusters.main.restore = { portFrom: 5400, portTo: 5500 }),
      'clusters.main.restore.portFrom',
      'restore.portFrom..portTo is 5400-5500, which includes nodes.a.port 5432',
    ],
    [
      'a restore port range whose default end reaches a node port',
      (c: any) => ((c.clusters.main.nodes.a.port = 55500), (c.clusters.main.restore = { portFrom: 55440 })),
      'clusters.main.restore.portFrom',
      'is 55440-55999, which includes nodes.a.port 55500',
    ],
    [
      'pgbackrest from a standby',
      (c: any) => ((c.clusters.main.method = 'pgbackrest'), (c.clusters.main.backup = { from: 'standby' })),
      'clusters.main.backup.from',
      'backs up from the primary only',
    ],
    [
      'a backup schedule named like the WAL check',
      (c: any) => (c.clusters.main.backup = { schedules: { 'wal-archive-check': { type: 'full', cron: '0 1 * * *' } } }),
      'clusters.main.backup.schedules',
      '"wal-archive-check", "restore-drill" and "copy-to-secondary" belong to archive.checkCron, drill.cron and storage.secondary.copyCron',
    ],
    [
      'a drill assertion with an unknown expectation',
      (c: any) => (c.clusters.main.drill = { assertions: [{ name: 'rows', sql: 'select 1', expect: 'about 5' }] }),
      'clusters.main.drill.assertions.0.expect',
      '"fresh within <n>(s|m|h|d)"',
    ],
    [
      'a bad WAL compression',
      (c: any) => (c.clusters.main.archive = { compression: 'lz4' }),
      'clusters.main.archive.compression',
      'expected one of "zstd"|"gzip"|"none"',
    ],
    ['an unknown sslmode', (c: any) => (c.clusters.main.sslmode = 'prefer'), 'clusters.main.sslmode', 'verify-full'],
    [
      'verify-full without a root certificate',
      (c: any) => delete c.clusters.main.sslRootCert,
      'clusters.main.sslRootCert',
      'expected sslRootCert, the PEM CA file that signs the servers\' certificates, with sslmode "verify-full" (got none)',
    ],
    [
      'verify-ca without a root certificate',
      (c: any) => {
        c.clusters.main.sslmode = 'verify-ca';
        delete c.clusters.main.sslRootCert;
      },
      'clusters.main.sslRootCert',
      'with sslmode "verify-ca" (got none)',
    ],
    [
      'a client certificate without its key',
      (c: any) => (c.clusters.main.sslCert = { file: '/etc/pgdr/pg-client.crt' }),
      'clusters.main.sslKey',
      'expected the private key of sslCert too (got none)',
    ],
    [
      "a node's own key without a certificate",
      (c: any) => (c.clusters.main.nodes.a.sslKey = { file: '/etc/pgdr/a.key' }),
      'clusters.main.nodes.a.sslCert',
      'expected the certificate of sslKey too (got none)',
    ],
    [
      'a client certificate with sslmode disable',
      (c: any) => {
        c.clusters.main.sslmode = 'disable';
        delete c.clusters.main.sslRootCert;
        c.clusters.main.sslCert = { file: '/etc/pgdr/pg-client.crt' };
        c.clusters.main.sslKey = { file: '/etc/pgdr/pg-client.key' };
      },
      'clusters.main.sslKey',
      'expected sslmode require, verify-ca or verify-full with sslKey (sslmode is "disable")',
    ],
    [
      'a root certificate with sslmode require (libpq would verify it, node-postgres not)',
      (c: any) => (c.clusters.main.sslmode = 'require'),
      'clusters.main.sslRootCert',
      'expected sslmode verify-ca or verify-full with sslRootCert (got sslmode "require")',
    ],
    [
      'a client key from the environment in a cluster with standbys',
      (c: any) => {
        c.clusters.main.nodes.b = { dataDir: '/var/lib/pg/b', port: 5433 };
        c.clusters.main.sslCert = { file: '/etc/pgdr/pg-client.crt' };
        c.clusters.main.sslKey = { env: 'PG_CLIENT_KEY' };
      },
      'clusters.main.sslKey',
      'expected a {file: /path} reference in a cluster of several nodes, at one path on every node host and the control host: standbys name the file in primary_conninfo (got {env: PG_CLIENT_KEY})',
    ],
    [
      'a relative root certificate on a node',
      (c: any) => (c.clusters.main.nodes.a.sslRootCert = 'ca.crt'),
      'clusters.main.nodes.a.sslRootCert',
      'absolute path',
    ],
  ])('rejects %s, naming the field and the expected form', (_what, mutate, field, expected) => {
    const err = rejection(mutate);
    const issue = err.issues.find((i) => i.field === field);
    expect(issue, `issues: ${JSON.stringify(err.issues)}`).toBeDefined();
    expect(err.message).toContain(`${field}:`);
    expect(err.message.toLowerCase()).toContain(expected.toLowerCase());
    expect(err.nonRetryable).toBe(true);
  });

  it("takes a node's own TLS files over the cluster's, and accepts an {env} key where the node has no standby", () => {
    const c = valid() as any;
    c.clusters.main.sslCert = { env: 'PG_CLIENT_CERT' };
    c.clusters.main.sslKey = { env: 'PG_CLIENT_KEY' };
    expect(parseConfig(c).clusters.main!.sslKey).toEqual({ env: 'PG_CLIENT_KEY' });
    // With a standby, each node's own {file} pair overrides the cluster's {env} pair for every connection to that node.
    c.clusters.main.nodes.b = { dataDir: '/var/lib/pg/b', port: 5433 };
    for (const n of ['a', 'b']) {
      c.clusters.main.nodes[n].sslCert = { file: `/etc/pgdr/${n}.crt` };
      c.clusters.main.nodes[n].sslKey = { file: `/etc/pgdr/${n}.key` };
    }
    c.clusters.main.nodes.b.sslRootCert = '/etc/pgdr/b-ca.crt';
    const parsed = parseConfig(c).clusters.main!;
    expect(parsed.nodes.b).toMatchObject({ sslRootCert: '/etc/pgdr/b-ca.crt', sslKey: { file: '/etc/pgdr/b.key' } });
    expect(parsed.sslRootCert).toBe(PG_CA);
  });

  it('moves the default restore port range above the node ports that fall in it, and keeps it where none do', () => {
    const c = valid() as any;
    c.clusters.main.nodes = { a: { dataDir: '/a', port: 55432 }, b: { dataDir: '/b', port: 55433 } };
    c.clusters.other = { sslRootCert: PG_CA, nodes: { x: { dataDir: '/x', port: 5432 } } };
    const parsed = parseConfig(c);
    expect(parsed.clusters.main!.restore).toMatchObject({ portFrom: 55434, portTo: 56001 });
    expect(parsed.clusters.other!.restore).toMatchObject({ portFrom: 55432, portTo: 55999 });
  });

  it('gives every node a task queue of its own: a shared agentQueue, colliding default names and the control queue are refused', () => {
    const shared = rejection((c) => {
      c.clusters.main.nodes.b = { dataDir: '/var/lib/pg/b', port: 5433, agentQueue: 'agents' };
      c.clusters.main.nodes.a.agentQueue = 'agents';
    });
    expect(shared.message).toContain(
      'clusters.main.nodes.b.agentQueue: expected a task queue of this node\'s own, got "agents", which is also node a of cluster main',
    );
    // Default names collide: cluster "a-b" node "c" and cluster "a" node "b-c" are both pgdr-node-a-b-c.
    const collide = rejection((c) => {
      c.clusters = {
        'a-b': { nodes: { c: { dataDir: '/var/lib/pg/x' } } },
        a: { nodes: { 'b-c': { dataDir: '/var/lib/pg/y', port: 5433 } } },
      };
    });
    expect(collide.message).toContain('got "pgdr-node-a-b-c", which is also node c of cluster a-b');
    const control = rejection((c) => (c.clusters.main.nodes.a.agentQueue = 'pgdr'));
    expect(control.message).toContain('got "pgdr", which is also temporal.taskQueue (the control worker)');
  });

  it('names the file and the yaml error for a file that is not yaml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-config-'));
    const path = join(dir, 'pgdr.yaml');
    writeFileSync(path, 'clusters: [unclosed\n');
    expect(() => loadConfig(path)).toThrow(new RegExp(`invalid config in ${path}:\\n  - \\(yaml\\)`));
  });

  it('names the path of a config file that does not exist', () => {
    expect(() => loadConfig('/nonexistent/pgdr.yaml')).toThrow(/cannot read \/nonexistent\/pgdr.yaml/);
  });

  describe('paths', () => {
    // Every place the config holds a path; Postgres tools hand some of them to /bin/sh.
    const pathFields: [string, (c: any, v: string) => void][] = [
      ['clusters.main.nodes.a.dataDir', (c, v) => (c.clusters.main.nodes.a.dataDir = v)],
      ['clusters.main.nodes.a.binDir', (c, v) => (c.clusters.main.nodes.a.binDir = v)],
      ['clusters.main.restore.dir', (c, v) => (c.clusters.main.restore = { dir: v })],
      ['clusters.main.restore.allowedRoots.0', (c, v) => (c.clusters.main.restore = { allowedRoots: [v] })],
      ['clusters.main.backup.scratchDir', (c, v) => (c.clusters.main.backup = { scratchDir: v })],
      ['clusters.main.archive.pgdrCommand', (c, v) => (c.clusters.main.archive = { pgdrCommand: v })],
      ['clusters.main.archive.configPath', (c, v) => (c.clusters.main.archive = { configPath: v })],
      ['storage.secretAccessKey.file', (c, v) => (c.storage.secretAccessKey = { file: v })],
      ['storage.caFile', (c, v) => (c.storage.caFile = v)],
    ];
    const metacharacters = [
      '$',
      '(',
      ')',
      '`',
      '{',
      '}',
      ';',
      '&',
      '|',
      '<',
      '>',
      '*',
      '?',
      '[',
      ']',
      '!',
      '~',
      '#',
      '%',
      '^',
      "'",
      '"',
      '\\',
      ' ',
      '\t',
      '\n',
      '\r',
      '\u0000',
      '\u001b',
    ];

    it.each(pathFields)('refuses every shell metacharacter in %s, naming the field and the value', (field, set) => {
      for (const ch of metacharacters) {
        const value = `/srv/pg${ch}x`;
        const err = rejection((c) => set(c, value));
        const issue = err.issues.find((i) => i.field === field);
        expect(issue, `${JSON.stringify(ch)} in ${field}: ${err.message}`).toBeDefined();
        expect(issue!.message).toContain('expected an absolute path of letters, digits and / . _ - + @ , = : only');
        expect(issue!.message).toContain(`(got ${JSON.stringify(value)})`);
      }
    });

    it('refuses the injection from the issue, "..", "//" and relative paths, and accepts a trailing slash', () => {
      for (const bad of [
        '/tmp/x/inj$(touch${IFS}/tmp/PWNED-$(id${IFS}-un))',
        '/var/lib/../etc',
        '/var//lib/pg',
        '/var/lib/pg//',
        'var/lib/pg',
        '/a/./b',
      ]) {
        expect(rejection((c) => (c.clusters.main.nodes.a.dataDir = bad)).issues.map((i) => i.field)).toContain(
          'clusters.main.nodes.a.dataDir',
        );
      }
      expect(
        parseConfig({ ...valid(), clusters: { main: { sslRootCert: PG_CA, nodes: { a: { dataDir: '/var/lib/pg/a/' } } } } }).clusters.main!
          .nodes.a!.dataDir,
      ).toBe('/var/lib/pg/a/');
    });

    it("refuses restore roots that overlap a node's data directory", () => {
      const inside = rejection((c) => (c.clusters.main.restore = { dir: '/var/lib/pg/a/restores' }));
      expect(inside.issues).toContainEqual({
        field: 'clusters.main.restore.dir',
        message: 'expected a directory apart from node a\'s data directory /var/lib/pg/a (got "/var/lib/pg/a/restores")',
      });
      const around = rejection((c) => (c.clusters.main.restore = { allowedRoots: ['/var/lib'] }));
      expect(around.issues.map((i) => i.field)).toContain('clusters.main.restore.allowedRoots.0');
    });
  });
});
