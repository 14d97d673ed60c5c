/**
 * A self-signed CA and a server certificate for MinIO (pgBackRest speaks S3 only over TLS).
 * Generated once per stack directory; the CA is what Node and pgBackRest verify against.
 */
import { existsSync, mkdirSync, chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TlsFiles {
  caCert: string;
  /** Directory in MinIO's --certs-dir layout: public.crt, private.key, CAs/. */
  minioCertsDir: string;
}

/** A self-signed CA, its certificate and key at the given paths (key 0600). */
export async function makeCa(cert: string, key: string, subject: string, days = 3650): Promise<void> {
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(days),
    '-subj',
    subject,
  ]);
  chmodSync(key, 0o600);
}

/**
 * A certificate for CN `cn` signed by `ca`, as <dir>/<name>.crt and .key (key 0600): for a
 * server (serverAuth, with subjectAltNames) or a client (clientAuth).
 */
export async function issueCert(o: {
  dir: string;
  name: string;
  cn: string;
  ca: { cert: string; key: string };
  usage: 'serverAuth' | 'clientAuth';
  san?: string[];
  days: number;
}): Promise<{ cert: string; key: string }> {
  const key = join(o.dir, `${o.name}.key`);
  const csr = join(o.dir, `${o.name}.csr`);
  const cert = join(o.dir, `${o.name}.crt`);
  const ext = join(o.dir, `${o.name}.ext`);
  await execa('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${o.cn}`]);
  const san = o.san?.length ? `subjectAltName=${o.san.join(',')}\n` : '';
  writeFileSync(ext, `${san}basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${o.usage}\n`);
  const sign = ['-CA', o.ca.cert, '-CAkey', o.ca.key, '-CAcreateserial', '-out', cert, '-days', String(o.days), '-extfile', ext];
  await execa('openssl', ['x509', '-req', '-in', csr, ...sign]);
  chmodSync(key, 0o600);
  return { cert, key };
}

/** extraHosts: more DNS names for the server certificate (compose service names). */
export async function ensureTls(dir: string, extraHosts: string[] = []): Promise<TlsFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  const key = join(dir, 'server.key');
  const cert = join(dir, 'server.crt');
  const minioCertsDir = join(dir, 'minio');
  if (!existsSync(caCert)) await makeCa(caCert, caKey, '/CN=pgdr dev CA');
  if (!existsSync(cert)) {
    const san = ['DNS:localhost', 'IP:127.0.0.1', ...extraHosts.map((h) => `DNS:${h}`)];
    await issueCert({ dir, name: 'server', cn: 'localhost', ca: { cert: caCert, key: caKey }, usage: 'serverAuth', san, days: 825 });
  }
  mkdirSync(join(minioCertsDir, 'CAs'), { recursive: true });
  // A running MinIO watches this folder: replace a file whole, and only when it changed.
  copyIfChanged(cert, join(minioCertsDir, 'public.crt'));
  copyIfChanged(key, join(minioCertsDir, 'private.key'));
  copyIfChanged(caCert, join(minioCertsDir, 'CAs', 'ca.crt'));
  chmodSync(caKey, 0o600);
  chmodSync(key, 0o600);
  // The CA certificate is public; Postgres tools running as the postgres user must read it.
  chmodSync(caCert, 0o644);
  return { caCert, minioCertsDir };
}

/** Copies src over dst (written beside, then renamed) unless dst already holds the same bytes. */
function copyIfChanged(src: string, dst: string): void {
  const data = readFileSync(src);
  if (existsSync(dst) && readFileSync(dst).equals(data)) return;
  const tmp = `${dst}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, dst);
}
