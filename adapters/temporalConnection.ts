/**
 * The one way pgdr connects to Temporal: workers (NativeConnection), the API, the schedule
 * reconciler and the control activities' client all build their connection here from the
 * config's `temporal` section (TLS, mTLS client pair, server name, API key). Secrets are read
 * from their references at connect time and never logged. A failed connection becomes a
 * {@link TemporalConnectError} naming the address and, where TLS failed, why in TLS terms:
 * a TLS handshake of our own against the same address says what the gRPC error hides.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type ConnectionOptions as NodeTlsOptions } from 'node:tls';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { TemporalConnectError } from '../domain/errors.js';
import { temporalUsesTls, type PgdrConfig } from '../config/schema.js';
import { createSecretReader, type SecretReader } from './secrets.js';

type TemporalConfig = PgdrConfig['temporal'];

/** What a connection needs, secrets resolved. Never log it. */
export interface TemporalConnectParams {
  address: string;
  tls: TLSConfig | false;
  apiKey?: string;
}

/** Resolves the config into connection parameters, reading the secret references now. */
export function temporalConnectParams(t: TemporalConfig, read: SecretReader = createSecretReader()): TemporalConnectParams {
  if (!temporalUsesTls(t)) return { address: t.address, tls: false };
  const tls: TLSConfig = {};
  if (t.tls?.serverName) tls.serverNameOverride = t.tls.serverName;
  if (t.tls?.serverCaFile) {
    try {
      tls.serverRootCACertificate = readFileSync(t.tls.serverCaFile);
    } catch (err) {
      throw new TemporalConnectError(t.address, `cannot read temporal.tls.serverCaFile ${t.tls.serverCaFile}: ${(err as Error).message}`);
    }
  }
  if (t.tls?.clientCert && t.tls.clientKey) {
    // The secret reader trims; PEM parsers want the final newline back.
    tls.clientCertPair = {
      crt: Buffer.from(`${read(t.tls.clientCert, 'temporal.tls.clientCert')}\n`),
      key: Buffer.from(`${read(t.tls.clientKey, 'temporal.tls.clientKey')}\n`),
    };
  }
  return { address: t.address, tls, ...(t.apiKey ? { apiKey: read(t.apiKey, 'temporal.apiKey') } : {}) };
}

/** A client connection (API, reconciler, control activities). */
export async function connectClient(t: TemporalConfig, read?: SecretReader): Promise<Connection> {
  const p = temporalConnectParams(t, read);
  try {
    return await Connection.connect({ address: p.address, tls: p.tls, ...(p.apiKey ? { apiKey: p.apiKey } : {}) });
  } catch (err) {
    throw await connectFailure(p, err);
  }
}

/** A client on a connection of its own, for the config's namespace. */
export async function connectTemporalClient(t: TemporalConfig, read?: SecretReader): Promise<{ client: Client; connection: Connection }> {
  const connection = await connectClient(t, read);
  return { client: new Client({ connection, namespace: t.namespace }), connection };
}

/** A worker connection. The worker package is loaded here only, so the API never loads it. */
export async function connectWorker(t: TemporalConfig, read?: SecretReader): Promise<NativeConnection> {
  const p = temporalConnectParams(t, read);
  const { NativeConnection } = await import('@temporalio/worker');
  try {
    return await NativeConnection.connect({ address: p.address, tls: p.tls, ...(p.apiKey ? { apiKey: p.apiKey } : {}) });
  } catch (err) {
    throw await connectFailure(p, err);
  }
}

/** Which credentials to check, by what this connection presented. */
function credentialsHint(p: TemporalConnectParams): string {
  const cert =
    p.tls && p.tls.clientCertPair ? 'the client certificate (temporal.tls.clientCert) and what the server authorizes for it' : '';
  const key = p.apiKey ? 'temporal.apiKey (TEMPORAL_API_KEY)' : '';
  const what = [key, cert].filter(Boolean).join(', and ');
  return `check ${what || 'whether the server needs an API key or a client certificate (pgdr presented neither)'} and the namespace`;
}

/** The pgdr error for a failed connect: the TLS reason where a handshake of our own finds one. */
export async function connectFailure(p: TemporalConnectParams, err: unknown): Promise<TemporalConnectError> {
  const refused = credentialsRefused(err);
  if (refused) return refused(p.address, credentialsHint(p));
  if (p.tls) {
    const tls = await probeTls(p.address, p.tls);
    if (tls) return new TemporalConnectError(p.address, tls.reason, tls.hint);
  }
  return new TemporalConnectError(p.address, firstLines(err));
}

/**
 * gRPC UNAUTHENTICATED (16) / PERMISSION_DENIED (7), or an HTTP 401/403 in front of gRPC (a
 * proxy, as the worker's connection reports it): the API key or certificate was refused.
 */
function credentialsRefused(err: unknown): ((address: string, hint: string) => TemporalConnectError) | undefined {
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, d = 0; e && d < 5; e = e.cause as typeof e, d++) {
    const text = String(e.message ?? '');
    const how =
      e.code === 16 || /\b(Unauthenticated|UNAUTHENTICATED|401 Unauthorized)\b/.test(text)
        ? 'unauthenticated'
        : e.code === 7 || /\b(PermissionDenied|PERMISSION_DENIED|403 Forbidden)\b/.test(text)
          ? 'permission denied'
          : undefined;
    if (how) return (address, hint) => new TemporalConnectError(address, `the server refused pgdr's credentials (${how})`, hint);
  }
  return undefined;
}

function firstLines(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, d = 0; e && d < 4; e = e.cause as typeof e, d++) {
    const line = String(e.message ?? e).split('\n')[0]!;
    if (line && !parts.includes(line)) parts.push(line);
  }
  return parts.join(': ') || String(err);
}

/** How long our own handshake may take before it counts as no answer. */
const PROBE_TIMEOUT_MS = 5_000;
/** HTTP/2 client preface and an empty SETTINGS frame: a TLS 1.3 server refuses a client certificate only once the client speaks. */
const H2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

/** Errors of the server's certificate, as Node's TLS names them. */
const UNKNOWN_CA = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
]);

/** Handshakes with the server as the connection would; undefined when TLS itself works. */
export function probeTls(address: string, tls: TLSConfig): Promise<{ reason: string; hint?: string } | undefined> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(at + 1));
  const name = tls.serverNameOverride ?? host;
  const options: NodeTlsOptions = {
    host,
    port,
    ALPNProtocols: ['h2'],
    ...(isIP(name) ? {} : { servername: name }),
    ...(tls.serverNameOverride ? { checkServerIdentity: serverIdentityOf(name) } : {}),
    ...(tls.serverRootCACertificate ? { ca: Buffer.from(tls.serverRootCACertificate) } : {}),
    ...(tls.clientCertPair ? { cert: Buffer.from(tls.clientCertPair.crt), key: Buffer.from(tls.clientCertPair.key) } : {}),
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: { reason: string; hint?: string } | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish({ reason: `no tls answer within ${PROBE_TIMEOUT_MS / 1000} s` }), PROBE_TIMEOUT_MS);
    const socket = tlsConnect(options, () => socket.write(H2_PREFACE));
    socket.on('data', () => finish(undefined));
    socket.on('error', (err) => finish(tlsReason(err as NodeJS.ErrnoException, name, tls)));
    socket.on('close', () =>
      finish({ reason: 'the server closed the connection right after the tls handshake (did it refuse the client certificate?)' }),
    );
  });
}

/** Checks the certificate against the override name rather than the address's host. */
function serverIdentityOf(name: string): NodeTlsOptions['checkServerIdentity'] {
  return (_host, cert) => checkServerIdentity(name, cert);
}

function tlsReason(err: NodeJS.ErrnoException, name: string, tls: TLSConfig): { reason: string; hint?: string } {
  const code = err.code ?? '';
  const text = err.message;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return {
      reason: `tls name mismatch: the server's certificate is not valid for "${name}" (${(err as { reason?: string }).reason ?? text})`,
      hint: 'set temporal.tls.serverName (TEMPORAL_TLS_SERVER_NAME) to a name the certificate carries',
    };
  if (UNKNOWN_CA.has(code))
    return {
      reason: `tls unknown ca: the server's certificate is not signed by a ca pgdr trusts (${code})`,
      hint: 'set temporal.tls.serverCaFile (TEMPORAL_TLS_SERVER_CA_CERT_PATH) to the ca that signed the server certificate',
    };
  if (code === 'CERT_HAS_EXPIRED') return { reason: "tls: the server's certificate has expired" };
  if (/alert certificate required/i.test(text) || (!tls.clientCertPair && /alert handshake failure/i.test(text)))
    return {
      reason: tls.clientCertPair
        ? 'tls: the server asked for a client certificate and did not take the one sent'
        : 'tls: the server requires a client certificate and none is configured',
      hint: 'set temporal.tls.clientCert and temporal.tls.clientKey (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH)',
    };
  if (/alert (unknown ca|bad certificate|certificate unknown|decrypt error)/i.test(text))
    return {
      reason: `tls: the server refused the client certificate: unknown ca (it is not signed by a ca the server trusts; ${text.replace(/^.*?alert/i, 'alert').split(':')[0]})`,
      hint: 'use a client certificate issued by the ca the Temporal frontend trusts',
    };
  if (/wrong version number|packet length too long|unknown protocol/i.test(text))
    return {
      reason: 'the server does not speak tls on this port',
      hint: 'set temporal.tls.enabled: false (TEMPORAL_TLS=false) for a plaintext frontend, or fix temporal.address',
    };
  if (code === 'ECONNREFUSED') return { reason: 'connection refused', hint: 'is the Temporal frontend running at this address?' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { reason: `host not found (${code})` };
  return { reason: `tls: ${text}` };
}
