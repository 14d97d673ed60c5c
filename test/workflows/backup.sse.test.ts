/**
 * Server-side encryption on every object pgdr and pgBackRest write, against the stack's MinIO
 * with its static KMS key: a backup with WAL archived by `pgdr wal push` (and, for the
 * pgbackrest method, by pgbackrest archive-push), then a HEAD of every object under the
 * cluster's prefix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { clusterPrefix, listKeys } from '../../adapters/storage.js';
import { STACK_KMS_KEY_ID } from '../../scripts/stack/minio.js';
import type { BackupManifest } from '../../domain/catalog.js';

type Clients = Awaited<ReturnType<typeof clients>>;

/** HEAD of every object under the cluster's prefix: key (relative to the prefix) -> what the object reports. */
async function encryptionOfEverything(c: Clients, tc: TestCluster): Promise<Map<string, string>> {
  const prefix = clusterPrefix(tc.config.storage, tc.name);
  const keys = (await listKeys(c.s3, tc.config.storage.bucket, prefix)).map((k) => k.key);
  const out = new Map<string, string>();
  for (let i = 0; i < keys.length; i += 16) {
    await Promise.all(
      keys.slice(i, i + 16).map(async (key) => {
        const h = await c.s3.send(new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: key }));
        out.set(key.slice(prefix.length), `${h.ServerSideEncryption ?? 'none'} ${h.SSEKMSKeyId ?? ''}`.trim());
      }),
    );
  }
  return out;
}

/** A Postgres of the test's own, archiving through pgdr, with workers and clients for the cluster. */
function encryptedCluster(prefix: string, method: 'basebackup' | 'pgbackrest', storage: Record<string, unknown>) {
  const s = {} as { pg: Awaited<ReturnType<typeof ownPostgres>>; tc: TestCluster; workers: { stop(): Promise<void> }; c: Clients };
  beforeAll(async () => {
    s.pg = await ownPostgres();
    await s.pg.start();
    s.tc = testCluster(
      prefix,
      (cl) => {
        cl.method = method;
        cl.nodes = { primary: s.pg.node };
        cl.archive = { checkCron: null, roundTripTimeoutSeconds: 30 };
      },
      (raw) => Object.assign(raw.storage, storage),
    );
    s.workers = await startWorkers(s.tc);
    s.c = await clients(s.tc);
    const en = await s.c.call('POST', `/api/v1/clusters/${s.tc.name}/archive/enable`, {});
    await s.c.temporal.workflow.getHandle(en.body.workflowId).result();
  });
  afterAll(async () => {
    await s.workers?.stop();
    await s.c?.close();
    await s.pg?.stop();
  });
  return s;
}

const backup = async (c: Clients, tc: TestCluster): Promise<BackupManifest> => {
  const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
  expect(res.status).toBe(202);
  return (await c.temporal.workflow.getHandle(res.body.workflowId).result()).manifest;
};

describe('server-side encryption, basebackup method', () => {
  const s = encryptedCluster('ssebb', 'basebackup', { serverSideEncryption: 'kms', kmsKeyId: STACK_KMS_KEY_ID });

  it('encrypts the base backup, its manifest, the archived WAL and the WAL check report with the KMS key', async () => {
    const { c, tc } = s;
    const manifest = await backup(c, tc);
    await s.pg.sql('create table t as select g from generate_series(1, 1000) g; select pg_switch_wal();');
    const check = await c.call('POST', `/api/v1/clusters/${tc.name}/wal-archive/check`, {});
    expect((await c.temporal.workflow.getHandle(check.body.workflowId).result()).healthy).toBe(true);

    const seen = await encryptionOfEverything(c, tc);
    const kinds = {
      base: [...seen.keys()].filter((k) => k.startsWith(`base/${manifest.id}/`) && !k.endsWith('manifest.json')),
      manifest: [...seen.keys()].filter((k) => k === `base/${manifest.id}/manifest.json`),
      wal: [...seen.keys()].filter((k) => k.startsWith('wal/')),
      report: [...seen.keys()].filter((k) => k.startsWith('checks/wal-archive/')),
    };
    for (const [kind, keys] of Object.entries(kinds)) expect(keys.length, `objects of kind ${kind}`).toBeGreaterThan(0);
    const expected = `aws:kms arn:aws:kms:${STACK_KMS_KEY_ID}`;
    expect([...seen].filter(([, enc]) => enc !== expected)).toEqual([]);
  });
});

describe('server-side encryption, pgbackrest method', () => {
  const s = encryptedCluster('ssepbr', 'pgbackrest', { serverSideEncryption: 'kms', kmsKeyId: STACK_KMS_KEY_ID });

  // pgBackRest stores every data file as an object of its own: a thousand PUTs, then as many HEADs.
  it(
    "encrypts pgBackRest's repo (backup files, manifests, archived WAL) and pgdr's catalog with the KMS key",
    { timeout: 400_000 },
    async () => {
      const { c, tc } = s;
      const manifest = await backup(c, tc);
      const seen = await encryptionOfEverything(c, tc);
      const repo = `pgbackrest/backup/${tc.name}/${manifest.pgbackrestLabel}/`;
      const kinds = {
        data: [...seen.keys()].filter((k) => k.startsWith(`${repo}pg_data/`)),
        repoManifest: [...seen.keys()].filter((k) => k === `${repo}backup.manifest`),
        info: [...seen.keys()].filter((k) => k === `pgbackrest/backup/${tc.name}/backup.info`),
        wal: [...seen.keys()].filter((k) => k.startsWith(`pgbackrest/archive/${tc.name}/`) && /\/[0-9A-F]{24}-/.test(k)),
        catalog: [...seen.keys()].filter((k) => k === `base/${manifest.id}/manifest.json`),
      };
      for (const [kind, keys] of Object.entries(kinds)) expect(keys.length, `objects of kind ${kind}`).toBeGreaterThan(0);
      const expected = `aws:kms arn:aws:kms:${STACK_KMS_KEY_ID}`;
      expect([...seen].filter(([, enc]) => enc !== expected)).toEqual([]);
    },
  );
});
