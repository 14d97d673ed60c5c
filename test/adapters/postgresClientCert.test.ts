/**
 * Client certificates: a server that demands one (clientcert=verify-full) accepts pgdr's SQL
 * connections and its tools with the configured sslCert/sslKey, and refuses them without. A
 * tool gets a private copy of the key (0600, owned by the node's OS user), removed afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { issueCert } from '../../scripts/stack/tls.js';
import { asUser, runTool } from '../../adapters/gateway.js';
import { withLibpqEnv, withNode } from '../../adapters/sql.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { PostgresUnreachableError } from '../../domain/errors.js';
import { HBA } from '../../scripts/stack/postgres.js';
import { ownPostgres, type OwnPostgres } from '../helpers/postgres.js';
import { testCluster, type TestCluster } from '../helpers/cluster.js';

let pgs: OwnPostgres;
let tc: TestCluster;
const tmp = mkdtempSync(join(tmpdir(), 'pgdr-pgcert-'));
const reader = createSecretReader();

beforeAll(async () => {
  const own = await ownPostgres();
  await own.start();
  pgs = own;
  // A client certificate for the pgdr role from the stack CA.
  const ca = join(pgs.layout.tls, 'ca.crt');
  const caKey = join(pgs.layout.tls, 'ca.key');
  const { cert, key } = await issueCert({ dir: tmp, name: 'pgdr', cn: 'pgdr', ca: { cert: ca, key: caKey }, usage: 'clientAuth', days: 1 });
  // TCP demands TLS and a client certificate the stack CA signed, besides the password.
  writeFileSync(join(pgs.dataDir, 'pg_hba.conf'), HBA.replace(/^(hostssl.*scram-sha-256)$/gm, '$1 clientcert=verify-full'));
  await pgs.sql(`alter system set ssl_ca_file = '${ca}'; select pg_reload_conf();`);
  tc = testCluster('pgcert', (cl) => {
    cl.nodes = { primary: pgs.node };
    cl.sslCert = { file: cert };
    cl.sslKey = { file: key };
  });
}, 180_000);

afterAll(async () => {
  await pgs?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('Postgres client certificates', () => {
  it('connects with the configured certificate and key; the server sees its subject', async () => {
    const row = await withNode(
      { config: tc.config, readSecret: reader },
      tc.name,
      'primary',
      async (c) => (await c.query('select ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()')).rows[0],
    );
    expect(row).toEqual({ ssl: true, client_dn: '/CN=pgdr' });
  });

  it('is refused without a client certificate', async () => {
    const raw = JSON.parse(JSON.stringify(tc.config));
    delete raw.clusters[tc.name].sslCert;
    delete raw.clusters[tc.name].sslKey;
    const err = await withNode({ config: raw, readSecret: reader }, tc.name, 'primary', async () => 'connected').then(
      () => new Error('connected'),
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(PostgresUnreachableError);
    expect(err.message).toMatch(/connection requires a valid client certificate/);
  });

  it("gives a tool a private copy of the key, owned by the node's OS user, removed once it exits", async () => {
    const nc = tc.config.clusters[tc.name]!.nodes.primary!;
    let keyCopy = '';
    const out = await withLibpqEnv(
      { config: tc.config, readSecret: reader },
      { cluster: tc.name, node: 'primary', osUser: nc.osUser, appName: 'pgdr test' },
      async (env) => {
        keyCopy = env.PGSSLKEY!;
        const st = statSync(keyCopy);
        expect((st.mode & 0o777).toString(8)).toBe('600');
        expect(st.uid).toBe(asUser(nc.osUser)?.uid ?? process.getuid!());
        const res = await runTool({
          tool: 'psql',
          binDir: nc.binDir,
          args: [
            '-X',
            '-At',
            '-h',
            nc.host,
            '-p',
            String(nc.port),
            '-U',
            'pgdr',
            '-d',
            'postgres',
            '-c',
            'select client_dn from pg_stat_ssl where pid = pg_backend_pid()',
          ],
          osUser: nc.osUser,
          env,
        });
        return res.stdout.trim();
      },
    );
    expect(out).toBe('/CN=pgdr');
    expect(keyCopy).not.toBe('');
    expect(existsSync(keyCopy)).toBe(false);
  });
});
