/**
 * A TLS terminator (HAProxy from apt) in front of the stack's Temporal dev server, which has no
 * TLS flags of its own. Two frontends, both HTTP/2 (ALPN h2) to the plaintext gRPC backend:
 *   mtls:   requires a client certificate issued by the stack's CA (scripts/stack/tls.ts);
 *   apiKey: server TLS only, and refuses (HTTP 401, gRPC UNAUTHENTICATED) any request whose
 *           `authorization` header is not exactly "Bearer <apiKey>".
 * Certificates: the stack's server certificate (localhost, 127.0.0.1), a client certificate
 * the stack's CA signs here, and a foreign CA with a client certificate of its own. Everything
 * lives in a temporary directory (0700) that stop() removes along with the process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { issueCert, makeCa } from '../../scripts/stack/tls.js';

export interface CertPair {
  cert: string;
  key: string;
}

export interface TlsTerminator {
  /** host:port of the frontend that requires a client certificate. */
  mtlsAddress: string;
  /** host:port of the frontend that requires the API key. */
  apiKeyAddress: string;
  /** The stack's CA certificate: it signed the server certificate and the trusted client certificate. */
  caFile: string;
  /** A client certificate the stack's CA signed. */
  client: CertPair;
  /** A foreign CA, and a client certificate it signed. */
  foreignCaFile: string;
  foreign: CertPair;
  /** The only key the apiKey frontend accepts. */
  apiKey: string;
  /** HAProxy's request log so far (httplog lines: frontend, status, path; never the header). */
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`haproxy did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts HAProxy in front of `upstream` (the dev server's host:port). stackCaFile is the
 * stack's ca.crt; its ca.key, server.crt and server.key sit next to it (scripts/stack/tls.ts).
 */
export async function startTlsTerminator(upstream: string, stackCaFile: string): Promise<TlsTerminator> {
  const tlsDir = dirname(stackCaFile);
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-ttls-'));
  chmodSync(dir, 0o700);
  let proc: ChildProcess | undefined;
  const stop = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const serverPem = join(dir, 'server.pem');
    writeFileSync(serverPem, readFileSync(join(tlsDir, 'server.crt'), 'utf8') + readFileSync(join(tlsDir, 'server.key'), 'utf8'), {
      mode: 0o600,
    });
    const clientCert = (name: string, ca: { cert: string; key: string }) =>
      issueCert({ dir, name, cn: name, ca, usage: 'clientAuth', days: 2 });
    const client = await clientCert('pgdr-test-client', { cert: stackCaFile, key: join(tlsDir, 'ca.key') });
    const foreignCaFile = join(dir, 'foreign-ca.crt');
    const foreignCaKey = join(dir, 'foreign-ca.key');
    await makeCa(foreignCaFile, foreignCaKey, '/CN=foreign test CA', 2);
    const foreign = await clientCert('pgdr-foreign-client', { cert: foreignCaFile, key: foreignCaKey });
    const apiKey = `pgdr-test-${randomBytes(12).toString('hex')}`;
    const [mtlsPort, apiKeyPort] = [await freePort(), await freePort()];
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(
      cfg,
      [
        'global',
        '  log stderr format short local0 info',
        'defaults',
        '  mode http',
        '  log global',
        '  option httplog',
        '  timeout connect 5s',
        // Worker polls are long gRPC calls (about a minute); stay well above them.
        '  timeout client 10m',
        '  timeout server 10m',
        'frontend mtls',
        `  bind 127.0.0.1:${mtlsPort} ssl crt ${serverPem} ca-file ${stackCaFile} verify required alpn h2`,
        '  default_backend temporal',
        'frontend apikey',
        `  bind 127.0.0.1:${apiKeyPort} ssl crt ${serverPem} alpn h2`,
        `  http-request deny deny_status 401 unless { req.hdr(authorization) -m str "Bearer ${apiKey}" }`,
        '  default_backend temporal',
        'backend temporal',
        `  server dev ${upstream} proto h2`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    await execa('haproxy', ['-c', '-q', '-f', cfg]);
    proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
    const early = new Promise<never>((_, reject) =>
      proc!.once('exit', (code) => reject(new Error(`haproxy exited with ${code}: ${stderr.slice(-4000)}`))),
    );
    await Promise.race([Promise.all([listening(mtlsPort), listening(apiKeyPort)]), early]);
    early.catch(() => undefined);
    return {
      mtlsAddress: `127.0.0.1:${mtlsPort}`,
      apiKeyAddress: `127.0.0.1:${apiKeyPort}`,
      caFile: stackCaFile,
      client,
      foreignCaFile,
      foreign,
      apiKey,
      log: () => stderr,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
