/**
 * A self-signed CA and a server certificate for MinIO (pgBackRest speaks S3 only over TLS).
 * Generated once per stack directory; the CA is what Node and pgBackRest verify against.
 */
import { existsSync, mkdirSync, copyFileSync, chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TlsFiles {
  caCert: string;
  /** Directory in MinIO's --certs-dir layout: public.crt, private.key, CAs/. */
  minioCertsDir: string;
}

/** extraHosts: more DNS names for the server certificate (compose service names). */
export async function ensureTls(dir: string, extraHosts: string[] = []): Promise<TlsFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const minioCertsDir = join(dir, 'minio');
  if (!existsSync(caCert)) {
    await execa('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      caKey,
      '-out',
      caCert,
      '-days',
      '3650',
      '-subj',
      '/CN=pgdr dev CA',
    ]);
  }
  if (!existsSync(cert)) {
    await execa('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
    const san = ['DNS:localhost', 'IP:127.0.0.1', ...extraHosts.map((h) => `DNS:${h}`)].join(',');
    writeFileSync(
      ext,
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
    );
    await execa('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCert,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      '825',
      '-extfile',
      ext,
    ]);
  }
  mkdirSync(join(minioCertsDir, 'CAs'), { recursive: true });
  copyFileSync(cert, join(minioCertsDir, 'public.crt'));
  copyFileSync(key, join(minioCertsDir, 'private.key'));
  copyFileSync(caCert, join(minioCertsDir, 'CAs', 'ca.crt'));
  chmodSync(caKey, 0o600);
  chmodSync(key, 0o600);
  // The CA certificate is public; Postgres tools running as the postgres user must read it.
  chmodSync(caCert, 0o644);
  return { caCert, minioCertsDir };
}
