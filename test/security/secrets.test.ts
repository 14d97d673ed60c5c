/**
 * Secrets stay secret: no value of the stack's secrets directory (S3 keys, Postgres passwords,
 * the API token) nor of its TLS private keys appears in a process's argv while a backup runs,
 * in any workflow history of the stack's Temporal (payloads decoded), or in any log. TLS to S3
 * is verified against the configured CA, and only insecureSkipTlsVerify turns that off.
 * Postgres authenticates with scram-sha-256, and the pgdr role holds only the documented grants.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { makeCa } from '../../scripts/stack/tls.js';
import type { Client } from '@temporalio/client';
import { clients, startWorkers, testCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { checkBucket, createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { pgbackrestConf } from '../../adapters/pgbackrest.js';
import { pgdrRoleSql } from '../../scripts/stack/postgres.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import { leakedIn, stackSecrets } from './helpers.js';

/** Secret values to look for: the secrets directory, plus a line of each TLS private key. */
function secretValues(): Record<string, string> {
  const out = stackSecrets();
  const tls = join(inject('stackDir'), 'tls');
  for (const f of readdirSync(tls).filter((x) => x.endsWith('.key'))) {
    const line = readFileSync(join(tls, f), 'utf8').split('\n')[1];
    if (line && line.length >= 40) out[`tls/${f}`] = line;
  }
  return out;
}

/** Every file under dir (recursively). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.isFile() ? [join(dir, e.name)] : [],
  );
}

/**
 * A history as text two ways: raw (bytes as base64, as stored) and decoded (every string, and
 * every byte field as UTF-8: payload data is JSON in `data`).
 */
function historyTexts(history: unknown): { raw: string; decoded: string } {
  const decoded: string[] = [];
  const raw = JSON.stringify(history, (_k, v: unknown) => {
    if (ArrayBuffer.isView(v)) {
      const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      decoded.push(b.toString('utf8'));
      return b.toString('base64');
    }
    if (typeof v === 'string') {
      decoded.push(v);
      // Payload data and metadata come as base64 strings: read them too.
      if (v.length >= 8 && v.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(v)) decoded.push(Buffer.from(v, 'base64').toString('utf8'));
    }
    return v;
  });
  return { raw, decoded: decoded.join('\n') };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** The newest `limit` runs of the namespace, newest first. */
async function recentRuns(temporal: Client, limit: number): Promise<{ workflowId: string; runId: string }[]> {
  const runs: { workflowId: string; runId: string }[] = [];
  for await (const w of temporal.workflow.list()) {
    runs.push({ workflowId: w.workflowId, runId: w.runId });
    if (runs.length >= limit) break;
  }
  return runs;
}

/** The grants of a role script: attributes, member roles, functions, parameters (normalized). */
function grantsOf(sql: string) {
  const text = sql.replace(/--.*$/gm, '').replace(/\s+/g, ' ');
  const statements = text.split(';').map((s) => s.trim());
  const split = (list: string) =>
    list.split(/,(?![^()]*\))/).map((x) =>
      x
        .trim()
        .replace(/^pg_catalog\./, '')
        .replace(/\s+/g, ''),
    );
  const g = { attributes: [] as string[], roles: [] as string[], functions: [] as string[], parameters: [] as string[] };
  for (const s of statements) {
    let m = /^(?:create|alter) role pgdr (?:with )?(.*?) password /.exec(s);
    if (m) g.attributes.push(...m[1]!.split(' '));
    m = /^grant execute on function (.+) to pgdr$/.exec(s);
    if (m) {
      g.functions.push(...split(m[1]!));
      continue;
    }
    m = /^grant alter system on parameter (.+) to pgdr$/.exec(s);
    if (m) {
      g.parameters.push(...split(m[1]!));
      continue;
    }
    m = /^grant (.+) to pgdr$/.exec(s);
    if (m) g.roles.push(...split(m[1]!));
  }
  for (const k of Object.keys(g) as (keyof typeof g)[]) g[k] = [...new Set(g[k])].sort();
  return g;
}

describe('secrets', () => {
  const rate = 16_381;
  // A slow backup (a rate no other test uses), so ps can watch it run.
  const tc = testCluster('secscan', (cl) => (cl.backup = { ...cl.backup, maxRateKBps: rate }));
  const secrets = secretValues();
  let c: Awaited<ReturnType<typeof clients>>;
  let workers: { stop(): Promise<void> } | undefined;
  let backupWorkflowId: string;
  let backupId: string;

  beforeAll(async () => {
    c = await clients(tc);
    workers = await startWorkers(tc);
  });
  afterAll(async () => {
    await workers?.stop();
    await c?.close();
  });

  it('knows every secret of the stack, each stored mode 0600', () => {
    expect(Object.keys(secrets)).toEqual(
      expect.arrayContaining([
        'api-token',
        'minio-access-key',
        'minio-secret-key',
        'pg-superuser-password',
        'pgdr-password',
        'tls/ca.key',
        'tls/server.key',
      ]),
    );
    const dir = join(inject('stackDir'), 'secrets');
    expect(statSync(dir).mode & 0o777).toBe(0o711);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    expect(leakedIn(`x ${secrets['pgdr-password']} y`, secrets)).toEqual(['pgdr-password']);
  });

  it('puts no secret into any process argv while a backup runs', async () => {
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    backupWorkflowId = res.body.workflowId;
    let done = false;
    const result = c.temporal.workflow
      .getHandle(backupWorkflowId)
      .result()
      .finally(() => (done = true));
    const samples: string[] = [];
    while (!done) {
      samples.push((await execa('ps', ['-eww', '-o', 'args'])).stdout);
      await new Promise((r) => setTimeout(r, 150));
    }
    const manifest = (await result).manifest;
    expect(manifest.status).toBe('good');
    backupId = manifest.id;
    // The sampling saw the tool run: it would have seen a password on its command line.
    const tool = samples.flatMap((s) => s.split('\n')).filter((l) => l.includes('pg_basebackup') && l.includes(`--max-rate=${rate}`));
    expect(tool.length, `${samples.length} samples`).toBeGreaterThanOrEqual(2);
    expect(tool[0]).toContain(`--label=pgdr ${manifest.id}`);
    expect(tool[0]).toContain('--no-password');
    const leaks = samples.flatMap((s) =>
      s
        .split('\n')
        .filter((l) => leakedIn(l, secrets).length)
        .map((l) => `${leakedIn(l, secrets).join(',')}: ${l.slice(0, 200)}`),
    );
    expect([...new Set(leaks)]).toEqual([]);
  });

  it('puts no secret into the history of any recent workflow (payloads decoded)', async () => {
    // A canary: a run whose input holds a value the scan is told to look for, so it must be found.
    const canaryValue = `canary-${Math.random().toString(36).slice(2)}${Date.now()}`;
    const canary = await c.temporal.workflow.start('securityCanary', {
      taskQueue: `pgdr-security-nobody-${tc.name}`,
      workflowId: `security-canary/${tc.name}`,
      args: [{ nested: { value: canaryValue } }],
    });
    await canary.terminate('security test canary');
    const look = { ...secrets, canary: canaryValue };
    const runs = await recentRuns(c.temporal, 300);
    for (const id of [backupWorkflowId, canary.workflowId])
      if (id && !runs.some((r) => r.workflowId === id)) runs.push({ workflowId: id, runId: '' });
    // Whatever else has run so far in this stack is scanned too; the committed fixtures (every
    // workflow type) are scanned by the next test, so this one does not depend on test order.
    expect(runs.map((r) => r.workflowId)).toEqual(expect.arrayContaining([backupWorkflowId, canary.workflowId]));
    const leaks: string[] = [];
    let ownBackup = '';
    let events = 0;
    await mapLimit(runs, 6, async (r) => {
      const history = await c.temporal.workflow.getHandle(r.workflowId, r.runId || undefined).fetchHistory();
      events += history.events?.length ?? 0;
      const { raw, decoded } = historyTexts(history);
      if (r.workflowId === backupWorkflowId) ownBackup = decoded;
      for (const name of new Set([...leakedIn(raw, look), ...leakedIn(decoded, look)])) leaks.push(`${r.workflowId}: ${name}`);
    });
    expect(leaks).toEqual([`${canary.workflowId}: canary`]);
    expect(events).toBeGreaterThan(runs.length * 3);
    // Decoding works: the backup's input and result (base64 JSON in the payloads) are readable.
    expect(ownBackup).toContain(`"cluster":"${tc.name}"`);
    expect(ownBackup).toContain(`"id":"${backupId}"`);
    expect(ownBackup).toMatch(/"stopLsn":"[0-9A-F]+\/[0-9A-F]+"/);
  });

  it('puts no secret into the committed workflow-history fixtures', () => {
    const files = filesUnder(join(repoRoot, 'test', 'fixtures'));
    const leaks = files.flatMap((f) => leakedIn(readFileSync(f, 'utf8'), secrets).map((n) => `${relative(repoRoot, f)}: ${n}`));
    expect(leaks).toEqual([]);
  });

  it('puts no secret into any log, the generated config or the env file of the stack', () => {
    const stack = inject('stackDir');
    const files = [
      ...filesUnder(join(stack, 'logs')),
      join(stack, 'pgdr.yaml'),
      join(stack, 'env'),
      ...filesUnder(join(stack, 'scratch', 'pgbackrest')).filter((f) => f.endsWith('.conf')),
    ];
    const names = files.map((f) => relative(stack, f));
    expect(names).toEqual(expect.arrayContaining(['logs/worker.log', 'logs/api.log', 'logs/temporal.log', 'pgdr.yaml']));
    expect(names.some((n) => n.startsWith('logs/postgres/'))).toBe(true);
    const leaks = files.flatMap((f) => leakedIn(readFileSync(f, 'latin1'), secrets).map((n) => `${relative(stack, f)}: ${n}`));
    expect(leaks).toEqual([]);
    // The worker log is not empty: there was something to scan.
    expect(statSync(join(stack, 'logs', 'worker.log')).size).toBeGreaterThan(0);
  });
});

describe('TLS to S3', () => {
  const tc = testCluster('sectls');
  const tmp = mkdtempSync(join(tmpdir(), 'pgdr-tls-'));
  const otherCa = join(tmp, 'other-ca.crt');
  const reader = createSecretReader();

  beforeAll(async () => {
    await makeCa(otherCa, join(tmp, 'other-ca.key'), '/CN=pgdr security test: not the stack CA', 1);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('verifies the server certificate against the configured CA', async () => {
    expect(tc.config.storage.endpoint).toMatch(/^https:/);
    expect(tc.config.storage.insecureSkipTlsVerify).toBe(false);
    await expect(checkBucket(createS3Client(tc.config.storage, reader), tc.config.storage.bucket)).resolves.toBeUndefined();
  });

  it('refuses a server certificate not signed by the configured CA', async () => {
    const err = await checkBucket(createS3Client({ ...tc.config.storage, caFile: otherCa }, reader), tc.config.storage.bucket).then(
      () => new Error('connected'),
      (e: Error & { code?: string }) => e,
    );
    const text = `${(err as { code?: string }).code ?? ''} ${err.message} ${(err.cause as { code?: string } | undefined)?.code ?? ''}`;
    expect(text).toMatch(
      /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|self[- ]signed certificate|unable to verify/i,
    );
  });

  it('turns verification off only with insecureSkipTlsVerify: true', async () => {
    await expect(
      checkBucket(createS3Client({ ...tc.config.storage, caFile: otherCa, insecureSkipTlsVerify: true }, reader), tc.config.storage.bucket),
    ).resolves.toBeUndefined();
    // pgBackRest gets the same CA and the same switch.
    const conf = pgbackrestConf(tc.config, tc.name, 'primary');
    expect(conf).toContain('repo1-storage-verify-tls=y');
    expect(conf).toContain(`repo1-storage-ca-file=${tc.config.storage.caFile}`);
    expect(pgbackrestConf({ ...tc.config, storage: { ...tc.config.storage, insecureSkipTlsVerify: true } }, tc.name, 'primary')).toContain(
      'repo1-storage-verify-tls=n',
    );
  });

  it('has no other code path that turns TLS verification off', async () => {
    const tracked = (await execa('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: repoRoot })).stdout.split('\n');
    const code = tracked.filter(
      (f) =>
        /\.(ts|js|mjs|cjs|sh|ya?ml|json|conf)$|(^|\/)Dockerfile$/.test(f) &&
        !f.startsWith('test/security/') &&
        f !== 'package-lock.json' &&
        existsSync(join(repoRoot, f)),
    );
    expect(code).toEqual(expect.arrayContaining(['adapters/storage.ts', 'adapters/pgbackrest.ts']));
    const disabling =
      /rejectUnauthorized\s*[:=](?!\s*true\b)|NODE_TLS_REJECT_UNAUTHORIZED|checkServerIdentity|verify-tls|insecureSkipTlsVerify|--insecure\b|--no-check-certificate|curl\s+(-\w*k\b)|strict-ssl|--tls-skip-verify|verify_ssl|sslVerify/;
    const hits = code.flatMap((f) =>
      readFileSync(join(repoRoot, f), 'utf8')
        .split('\n')
        .filter((l) => disabling.test(l) && !/^\s*(\*|\/\/|#)/.test(l))
        .map((l) => `${f}: ${l.trim()}`),
    );
    // Each is the explicit opt-in (or a test of its default), or libpq's sslmode semantics for Postgres ('require' does not verify, 'verify-ca' skips the host name).
    expect(hits.sort()).toEqual(
      [
        'adapters/storage.ts: rejectUnauthorized: !storage.insecureSkipTlsVerify,',
        "adapters/pgbackrest.ts: `${r}-storage-verify-tls=${s.insecureSkipTlsVerify ? 'n' : 'y'}`,",
        "adapters/sql.ts: if (cc.sslmode === 'require') return { rejectUnauthorized: false };",
        'adapters/sql.ts: ? { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }',
        'test/config/load.test.ts: expect(c.storage.insecureSkipTlsVerify).toBe(false);',
        // Turns nothing off: with verification off, uploads keep their signed body hash (and a test of that).
        "adapters/storage.ts: if (storageEndpoint(storage).startsWith('https:') && !storage.insecureSkipTlsVerify) {",
        "test/adapters/storageSigning.test.ts: ['over TLS whose certificate is not verified', { endpoint: 'https://198.18.255.254:9', insecureSkipTlsVerify: true }],",
        "config/schema.ts: insecureSkipTlsVerify: z.boolean().default(false).describe('turn TLS verification off; explicit opt-in, never for production'),",
        // The Temporal TLS probe checks the certificate against temporal.tls.serverName (still verified, only another name).
        "adapters/temporalConnection.ts: import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions as NodeTlsOptions } from 'node:tls';",
        'adapters/temporalConnection.ts: ...(tls.serverNameOverride ? { checkServerIdentity: serverIdentityOf(name) } : {}),',
        "adapters/temporalConnection.ts: function serverIdentityOf(name: string): NodeTlsOptions['checkServerIdentity'] {",
        'adapters/temporalConnection.ts: return (_host, cert) => checkServerIdentity(name, cert);',
      ].sort(),
    );
  });
});

describe('Postgres authentication and the pgdr role', () => {
  const tc = testCluster('secpg');
  const nodes = Object.values(tc.config.clusters[tc.name]!.nodes);
  const primary = tc.config.clusters[tc.name]!.nodes.primary!;
  let sql: (text: string) => Promise<string[]>;

  beforeAll(async () => {
    const pgs = await ownPostgres();
    sql = async (text) => (await pgs.sqlAt(primary.port, text)).trim().split('\n');
  });

  it('accepts only scram-sha-256 in pg_hba.conf of every node', async () => {
    for (const n of nodes) {
      const rules = readFileSync(join(n.dataDir, 'pg_hba.conf'), 'utf8')
        .split('\n')
        .map((l) => l.replace(/#.*/, '').trim())
        .filter(Boolean);
      expect(rules.length, n.dataDir).toBeGreaterThan(0);
      for (const r of rules) expect(r.split(/\s+/).at(-1), `${n.dataDir}: ${r}`).toBe('scram-sha-256');
    }
    expect(await sql('select distinct auth_method from pg_hba_file_rules')).toEqual(['scram-sha-256']);
    expect(await sql('show password_encryption')).toEqual(['scram-sha-256']);
  });

  it('stores the pgdr and superuser passwords as SCRAM verifiers', async () => {
    expect(
      await sql(
        "select rolname || '=' || (rolpassword like 'SCRAM-SHA-256$%') from pg_authid where rolname in ('pgdr', 'postgres') order by 1",
      ),
    ).toEqual(['pgdr=true', 'postgres=true']);
  });

  it('documents in the README exactly the grants the stack gives the pgdr role', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = /### The `pgdr` database role\n([\s\S]*?)\n## /.exec(readme)?.[1];
    expect(section, 'README section "The `pgdr` database role"').toBeDefined();
    const block = /```sql\n([\s\S]*?)```/.exec(section!)?.[1];
    expect(block).toBeDefined();
    const documented = grantsOf(block!);
    expect(documented.roles.length).toBeGreaterThan(0);
    expect(documented.functions.length).toBeGreaterThan(0);
    expect(grantsOf(pgdrRoleSql('x')), 'scripts/stack/postgres.ts pgdrRoleSql against the README').toEqual(documented);
  });

  it('gives the pgdr role no attribute or grant beyond what the stack script makes', async () => {
    const made = grantsOf(pgdrRoleSql('x'));
    expect(made.attributes).toEqual(['login', 'replication']);

    const [attrs] = await sql(
      "select concat_ws(',', rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolinherit, rolreplication, rolcanlogin) from pg_roles where rolname = 'pgdr'",
    );
    expect(attrs, 'super, createrole, createdb, bypassrls, inherit, replication, login').toBe('f,f,f,f,t,t,t');
    const memberOf = await sql(
      "select b.rolname from pg_auth_members m join pg_roles b on b.oid = m.roleid where m.member = 'pgdr'::regrole order by 1",
    );
    expect(memberOf.length).toBeGreaterThan(0);
    expect(made.roles).toEqual(expect.arrayContaining(memberOf));
    const functions = (
      await sql("select p.oid::regprocedure::text from pg_proc p, aclexplode(p.proacl) a where a.grantee = 'pgdr'::regrole order by 1")
    ).map((f) => f.replace(/\s+/g, ''));
    expect(functions.length).toBeGreaterThan(0);
    expect(made.functions).toEqual(expect.arrayContaining(functions));
    const parameters = (
      await sql("select p.parname from pg_parameter_acl p, aclexplode(p.paracl) a where a.grantee = 'pgdr'::regrole order by 1")
    ).filter(Boolean);
    expect(parameters.length).toBeGreaterThan(0);
    expect(made.parameters).toEqual(expect.arrayContaining(parameters));
    expect(await sql("select count(*) from information_schema.role_table_grants where grantee = 'pgdr'")).toEqual(['0']);
    expect(await sql("select count(*) from pg_database where datdba = 'pgdr'::regrole")).toEqual(['0']);
  });
});
