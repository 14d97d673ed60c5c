import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { stringify } from 'yaml';
import { loadConfig, parseConfig } from '../../config/load.js';
import { temporalUsesTls } from '../../config/schema.js';
import { ConfigError } from '../../domain/errors.js';
import { temporalConnectParams } from '../../adapters/temporalConnection.js';

const valid = (temporal: Record<string, unknown> = {}) => ({
  temporal,
  storage: { endpoint: 'https://127.0.0.1:9000', bucket: 'pgdr', accessKeyId: { env: 'S3_KEY' }, secretAccessKey: { env: 'S3_SECRET' } },
  clusters: { main: { sslRootCert: '/etc/pgdr/pg-ca.crt', nodes: { a: { dataDir: '/var/lib/pg/a' } } } },
});

function file(temporal: Record<string, unknown> = {}): string {
  const path = join(mkdtempSync(join(tmpdir(), 'pgdr-tenv-')), 'pgdr.yaml');
  writeFileSync(path, stringify(valid(temporal)));
  return path;
}

function issues(f: () => unknown): { field: string; message: string }[] {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('config was accepted');
}

describe('temporal tls and api key in pgdr.yaml', () => {
  it('keeps plaintext by default and turns TLS on with any tls field or an API key', () => {
    expect(temporalUsesTls(parseConfig(valid()).temporal)).toBe(false);
    expect(temporalUsesTls(parseConfig(valid({ tls: {} })).temporal)).toBe(true);
    expect(temporalUsesTls(parseConfig(valid({ apiKey: { env: 'K' } })).temporal)).toBe(true);
    expect(temporalUsesTls(parseConfig(valid({ tls: { enabled: false } })).temporal)).toBe(false);
  });

  it.each([
    [
      'a client certificate without its key',
      { tls: { clientCert: { file: '/etc/pgdr/c.crt' } } },
      'temporal.tls.clientKey',
      'private key of tls.clientCert',
    ],
    [
      'a client key without its certificate',
      { tls: { clientKey: { file: '/etc/pgdr/c.key' } } },
      'temporal.tls.clientCert',
      'certificate of tls.clientKey',
    ],
    ['an API key over plaintext', { apiKey: { env: 'K' }, tls: { enabled: false } }, 'temporal.apiKey', 'expected TLS with an API key'],
    [
      'TLS settings with TLS turned off',
      { tls: { enabled: false, serverCaFile: '/etc/pgdr/ca.crt' } },
      'temporal.tls.enabled',
      'expected TLS on when tls.serverCaFile is set, got false',
    ],
    [
      'an inline client certificate',
      { tls: { clientCert: '-----BEGIN', clientKey: { file: '/k' } } },
      'temporal.tls.clientCert',
      '{env: NAME} or {file: /path}',
    ],
    ['a relative CA file', { tls: { serverCaFile: 'ca.crt' } }, 'temporal.tls.serverCaFile', 'absolute path'],
    ['a server name with a space', { tls: { serverName: 'a b' } }, 'temporal.tls.serverName', 'expected a DNS name'],
    ['an unknown tls field (typo)', { tls: { caFile: '/x' } }, 'temporal.tls', 'caFile'],
  ])('refuses %s, naming the field', (_what, temporal, field, message) => {
    const found = issues(() => parseConfig(valid(temporal), 'test.yaml'));
    expect(found).toEqual([expect.objectContaining({ field, message: expect.stringContaining(message) })]);
  });

  it('reads the secret references only when a connection is built, and sends no client pair it was not given', () => {
    const t = parseConfig(
      valid({ tls: { serverName: 'temporal.example.com', clientCert: { env: 'C' }, clientKey: { env: 'K' } }, apiKey: { env: 'A' } }),
    ).temporal;
    const read = (ref: { env?: string }) => `value-of-${ref.env}`;
    const p = temporalConnectParams(t, read as never);
    expect(p).toEqual({
      address: '127.0.0.1:7233',
      apiKey: 'value-of-A',
      tls: {
        serverNameOverride: 'temporal.example.com',
        clientCertPair: { crt: Buffer.from('value-of-C\n'), key: Buffer.from('value-of-K\n') },
      },
    });
    expect(temporalConnectParams(parseConfig(valid()).temporal, read as never)).toEqual({ address: '127.0.0.1:7233', tls: false });
  });
});

describe("Temporal's environment variables over pgdr.yaml", () => {
  it('override the file field by field and turn secrets into references, not values', () => {
    const c = loadConfig(file({ address: 'file-host:7233', namespace: 'from-file', tls: { serverName: 'file.example' } }), {
      TEMPORAL_ADDRESS: 'env-host:7233',
      TEMPORAL_API_KEY: 'sekrit',
      TEMPORAL_TLS_CLIENT_CERT_PATH: '/etc/pgdr/client.crt',
      TEMPORAL_TLS_CLIENT_KEY_DATA: '-----BEGIN PRIVATE KEY-----',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/etc/pgdr/ca.crt',
    });
    expect(c.temporal).toMatchObject({
      address: 'env-host:7233',
      namespace: 'from-file',
      apiKey: { env: 'TEMPORAL_API_KEY' },
      tls: {
        serverName: 'file.example',
        serverCaFile: '/etc/pgdr/ca.crt',
        clientCert: { file: '/etc/pgdr/client.crt' },
        clientKey: { env: 'TEMPORAL_TLS_CLIENT_KEY_DATA' },
      },
    });
    expect(JSON.stringify(c)).not.toContain('sekrit');
  });

  it('leave the file alone when none is set, and treat an empty one as unset', () => {
    const c = loadConfig(file({ address: 'file-host:7233' }), { TEMPORAL_ADDRESS: '' });
    expect(c.temporal.address).toBe('file-host:7233');
    expect(c.temporal.tls).toBeUndefined();
  });

  it.each([
    ['a bad address', { TEMPORAL_ADDRESS: 'nohost' }, 'temporal.address (from TEMPORAL_ADDRESS)', 'expected host:port (got "nohost")'],
    ['a TEMPORAL_TLS that is not a boolean', { TEMPORAL_TLS: 'yes' }, 'temporal.tls.enabled (from TEMPORAL_TLS)', 'expected boolean'],
    [
      'an API key with TEMPORAL_TLS=false',
      { TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' },
      'temporal.apiKey (from TEMPORAL_API_KEY)',
      'expected TLS with an API key',
    ],
    [
      'a certificate path and data both set',
      { TEMPORAL_TLS_CLIENT_CERT_PATH: '/c', TEMPORAL_TLS_CLIENT_CERT_DATA: 'pem' },
      'TEMPORAL_TLS_CLIENT_CERT_DATA',
      'expected one of TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_CERT_DATA, got both',
    ],
    [
      'CA data in the environment',
      { TEMPORAL_TLS_SERVER_CA_CERT_DATA: 'pem' },
      'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH instead',
    ],
    [
      'host verification turned off',
      { TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' },
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
      'pgdr always verifies',
    ],
    [
      'a client key alone',
      { TEMPORAL_TLS_CLIENT_KEY_PATH: '/etc/pgdr/k' },
      'temporal.tls.clientCert',
      'expected the certificate of tls.clientKey',
    ],
  ])('refuse %s, naming the variable', (_what, env, field, message) => {
    const found = issues(() => loadConfig(file(), env));
    expect(found).toEqual([expect.objectContaining({ field, message: expect.stringContaining(message) })]);
  });
});
