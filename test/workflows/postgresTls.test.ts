/**
 * Postgres over verify-full, as the stack runs it: status, a backup and a rebuild connect over
 * TLS (pg_hba.conf has hostssl lines only), the rebuilt standby's primary_conninfo names the
 * root certificate and no password, and a server certificate from another CA is refused with
 * a clear error naming the node, its address and the TLS reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { makeCa } from '../../scripts/stack/tls.js';
import { withNode } from '../../adapters/sql.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { PostgresTlsError } from '../../domain/errors.js';
import type { RebuildReport } from '../../domain/replication.js';
import { replicatedCluster, resultOf, type ReplicatedCluster } from '../helpers/replication.js';
import { streams } from '../helpers/rebuild.js';

let rc: ReplicatedCluster;
const tmp = mkdtempSync(join(tmpdir(), 'pgdr-pgtls-'));
const otherCa = join(tmp, 'other-ca.crt');

beforeAll(async () => {
  rc = await replicatedCluster('pgtls');
  await makeCa(otherCa, join(tmp, 'other-ca.key'), '/CN=pgdr test: not the stack CA', 1);
}, 180_000);

afterAll(async () => {
  await rc?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const cluster = () => rc.tc.config.clusters[rc.tc.name]!;
const deps = () => ({ config: rc.tc.config, readSecret: createSecretReader() });

describe('Postgres TLS (verify-full)', () => {
  it('runs the stack with verify-full against the stack CA, and its servers refuse a connection without TLS', async () => {
    expect(cluster().sslmode).toBe('verify-full');
    expect(cluster().sslRootCert).toMatch(/\/tls\/ca\.crt$/);
    const plain = new pg.Client({ host: '127.0.0.1', port: rc.port('primary'), user: 'pgdr', database: 'postgres', ssl: false });
    const err = await plain.connect().then(
      () => new Error('connected without TLS'),
      (e: Error) => e,
    );
    await plain.end().catch(() => undefined);
    expect(err.message).toMatch(/no pg_hba\.conf entry for host "127\.0\.0\.1", user "pgdr", database "postgres", no encryption/);
  });

  it("answers status over TLS, and the server sees pgdr's own connection encrypted", async () => {
    const res = await rc.c.call('GET', `/api/v1/clusters/${rc.tc.name}/status`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.primary).toBe('primary');
    const roles = Object.fromEntries(res.body.nodes.map((n: { node: string; probe: { role: string } }) => [n.node, n.probe?.role]));
    expect(roles).toEqual({ primary: 'primary', replica: 'standby' });
    const ssl = await withNode(
      deps(),
      rc.tc.name,
      'primary',
      async (c) => (await c.query('select ssl, version from pg_stat_ssl where pid = pg_backend_pid()')).rows[0],
    );
    expect(ssl).toMatchObject({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
  });

  it('takes a backup over TLS (pg_basebackup gets sslmode and the root certificate by env)', async () => {
    const b = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type: 'full' });
    expect(b.status, JSON.stringify(b.body)).toBe(202);
    const result = await resultOf<{ manifest: { id: string; stopLsn: string } }>(rc, b.body.workflowId);
    expect(result.manifest.stopLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
  }, 180_000);

  it('rebuilds the standby over TLS; its primary_conninfo carries sslmode verify-full and sslrootcert, never a password', async () => {
    const res = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/nodes/replica/rebuild`, { source: 'primary' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const report = await resultOf<RebuildReport>(rc, res.body.workflowId);
    expect(report).toMatchObject({ node: 'replica', source: 'primary', primary: 'primary' });
    const auto = readFileSync(join(rc.dataDir('replica'), 'postgresql.auto.conf'), 'utf8');
    const conninfo = /^primary_conninfo = '(.*)'$/m.exec(auto)?.[1];
    expect(conninfo, auto).toBeDefined();
    expect(conninfo).toContain('sslmode=verify-full');
    expect(conninfo).toContain(`sslrootcert=''${cluster().sslRootCert}''`);
    expect(conninfo).toContain(`passfile=''${cluster().replication.passfile}''`);
    expect(conninfo).not.toMatch(/password\s*=/);
    expect(await streams(rc, 'replica')).toBe(true);
    // The walsender serving the rebuilt standby is encrypted.
    const walsender = (
      await rc.sql('primary', `select s.ssl from pg_stat_replication r join pg_stat_ssl s using (pid) where r.application_name = 'replica'`)
    ).trim();
    expect(walsender).toBe('t');
  }, 240_000);

  it('refuses a server whose certificate another CA signed, naming the node, its address and the TLS reason', async () => {
    const raw = JSON.parse(JSON.stringify(rc.tc.config));
    raw.clusters[rc.tc.name].sslRootCert = otherCa;
    const err = await withNode({ ...deps(), config: raw }, rc.tc.name, 'primary', async () => 'connected').then(
      () => new Error('connected'),
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(PostgresTlsError);
    expect(err.message).toContain(
      `tls to node "primary" of cluster "${rc.tc.name}" at 127.0.0.1:${rc.port('primary')} failed (sslmode verify-full, root certificate ${otherCa}): unable to verify the first certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`,
    );
    expect(err.message).toMatch(/HINT: check the cluster's \(or node's\) sslRootCert/);
    expect((err as PostgresTlsError).nonRetryable).toBe(true);
  });
});
