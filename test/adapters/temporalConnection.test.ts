/**
 * Production Temporal connections, for real: HAProxy terminates TLS in front of the stack's dev
 * server (test/helpers/tlsTerminator.ts). A worker and the API's client connect through mTLS
 * and run a backup; missing or foreign client certificates, a wrong server name and an unknown
 * server CA are refused with a pgdr error naming the address and the TLS reason; an API key
 * reaches the server as the authorization header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { until } from '../helpers/stack.js';
import { startTlsTerminator, type TlsTerminator } from '../helpers/tlsTerminator.js';
import { connectClient, connectTemporalClient, connectWorker } from '../../adapters/temporalConnection.js';
import { parseConfig } from '../../config/load.js';
import { TemporalConnectError } from '../../domain/errors.js';
import type { PgdrConfig } from '../../config/schema.js';

let term: TlsTerminator;
let base: PgdrConfig;

/** The stack's temporal section pointed at the terminator, with `tls` and `apiKey` of the test's choosing. */
function temporalVia(address: string, extra: Record<string, unknown>): PgdrConfig['temporal'] {
  const raw = JSON.parse(JSON.stringify(base));
  raw.temporal = { ...raw.temporal, address, ...extra };
  return parseConfig(raw).temporal;
}

const mtls = (pair: { cert: string; key: string } | null, over: Record<string, unknown> = {}) => ({
  tls: {
    serverCaFile: term.caFile,
    ...(pair ? { clientCert: { file: pair.cert }, clientKey: { file: pair.key } } : {}),
    ...over,
  },
});

/** The error a connect attempt failed with (a TemporalConnectError, or the test fails). */
async function refusal(connect: () => Promise<{ close(): Promise<void> }>): Promise<TemporalConnectError> {
  let conn: { close(): Promise<void> } | undefined;
  try {
    conn = await connect();
  } catch (err) {
    expect(err).toBeInstanceOf(TemporalConnectError);
    return err as TemporalConnectError;
  }
  await conn.close();
  throw new Error('the connection was accepted');
}

beforeAll(async () => {
  base = testCluster('ttls').config;
  term = await startTlsTerminator(base.temporal.address, inject('caCert'));
});
afterAll(async () => {
  await term?.stop();
});

describe('temporal over mTLS through a TLS terminator', () => {
  let tc: TestCluster;
  let workers: Awaited<ReturnType<typeof startWorkers>> | undefined;
  let c: Awaited<ReturnType<typeof clients>> | undefined;
  beforeAll(async () => {
    tc = testCluster('ttls', undefined, (raw) => {
      raw.temporal.address = term.mtlsAddress;
      raw.temporal.tls = {
        serverCaFile: term.caFile,
        serverName: 'localhost',
        clientCert: { file: term.client.cert },
        clientKey: { file: term.client.key },
      };
    });
  });
  afterAll(async () => {
    await workers?.stop();
    await c?.close();
  });

  it('runs a backup end to end with the worker and the API connected only through the terminator', async () => {
    workers = await startWorkers(tc);
    c = await clients(tc);
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(res.status).toBe(202);
    const { manifest } = await c.temporal.workflow.getHandle(res.body.workflowId).result();
    expect(manifest).toMatchObject({ status: 'good', type: 'full', workflowId: res.body.workflowId });
    const op = await c.call('GET', `/api/v1/operations/${res.body.workflowId}`);
    expect(op.status).toBe(200);
    // HAProxy carried the worker's answers on its mTLS frontend.
    await until('haproxy to log a completed activity on the mtls frontend', async () =>
      /mtls~ temporal\/dev \S+ 200 .*WorkflowService\/RespondActivityTaskCompleted/.test(term.log()),
    );
  });

  it.each([
    ['the API client', (t: PgdrConfig['temporal']) => connectClient(t)],
    ['a worker', (t: PgdrConfig['temporal']) => connectWorker(t)],
  ])('refuses %s without a client certificate, naming the address and that one is required', async (_who, connect) => {
    const err = await refusal(() => connect(temporalVia(term.mtlsAddress, mtls(null))));
    expect(err.code).toBe('TEMPORAL_CONNECT_FAILED');
    expect(err.message).toContain(
      `cannot connect to temporal at ${term.mtlsAddress}: tls: the server requires a client certificate and none is configured`,
    );
    expect(err.message).toContain('HINT: set temporal.tls.clientCert and temporal.tls.clientKey');
  });

  it.each([
    ['the API client', (t: PgdrConfig['temporal']) => connectClient(t)],
    ['a worker', (t: PgdrConfig['temporal']) => connectWorker(t)],
  ])('refuses %s with a certificate from another CA as unknown ca', async (_who, connect) => {
    const err = await refusal(() => connect(temporalVia(term.mtlsAddress, mtls(term.foreign))));
    expect(err.message).toMatch(
      new RegExp(`^cannot connect to temporal at ${term.mtlsAddress}: tls: the server refused the client certificate: unknown ca`),
    );
  });

  it('refuses a server name the certificate does not carry as a name mismatch', async () => {
    const err = await refusal(() =>
      connectClient(temporalVia(term.mtlsAddress, mtls(term.client, { serverName: 'temporal.example.com' }))),
    );
    expect(err.message).toContain(
      `cannot connect to temporal at ${term.mtlsAddress}: tls name mismatch: the server's certificate is not valid for "temporal.example.com"`,
    );
    expect(err.message).toContain('HINT: set temporal.tls.serverName (TEMPORAL_TLS_SERVER_NAME)');
  });

  it("refuses a server whose certificate another CA signed as unknown ca on pgdr's side", async () => {
    const err = await refusal(() => connectWorker(temporalVia(term.mtlsAddress, mtls(term.client, { serverCaFile: term.foreignCaFile }))));
    expect(err.message).toContain(
      `cannot connect to temporal at ${term.mtlsAddress}: tls unknown ca: the server's certificate is not signed by a ca pgdr trusts`,
    );
  });
});

describe('temporal with an API key', () => {
  it('sends the key as the authorization header on every call of the client and the worker connection', async () => {
    const good = temporalVia(term.apiKeyAddress, { tls: { serverCaFile: term.caFile }, apiKey: { env: 'PGDR_TEST_TEMPORAL_KEY' } });
    process.env.PGDR_TEST_TEMPORAL_KEY = term.apiKey;
    try {
      const { client, connection } = await connectTemporalClient(good);
      try {
        // A call after connecting: the key rides on every request, not on the first only.
        const ns = await client.workflowService.describeNamespace({ namespace: good.namespace });
        expect(ns.namespaceInfo?.name).toBe(good.namespace);
      } finally {
        await connection.close();
      }
      const native = await connectWorker(good);
      await native.close();
    } finally {
      delete process.env.PGDR_TEST_TEMPORAL_KEY;
    }
    await until('haproxy to log the call that carried the key', async () =>
      /apikey~ temporal\/dev \S+ 200 .*WorkflowService\/DescribeNamespace/.test(term.log()),
    );
  });

  it.each([
    ['the API client', (t: PgdrConfig['temporal']) => connectClient(t)],
    ['a worker', (t: PgdrConfig['temporal']) => connectWorker(t)],
  ])('refuses %s with a wrong key as refused credentials, never showing the key', async (_who, connect) => {
    // Only log lines after this call count: the other case's refusal is in the same log.
    const before = term.log().length;
    process.env.PGDR_TEST_TEMPORAL_KEY = 'not-the-key';
    try {
      const t = temporalVia(term.apiKeyAddress, { tls: { serverCaFile: term.caFile }, apiKey: { env: 'PGDR_TEST_TEMPORAL_KEY' } });
      const err = await refusal(() => connect(t));
      expect(err.message).toContain(
        `cannot connect to temporal at ${term.apiKeyAddress}: the server refused pgdr's credentials (unauthenticated)`,
      );
      expect(err.message).toContain('HINT: check temporal.apiKey (TEMPORAL_API_KEY) and the namespace');
      expect(err.message).not.toContain('not-the-key');
    } finally {
      delete process.env.PGDR_TEST_TEMPORAL_KEY;
    }
    // The terminator, not Temporal, turned the call away: its header check saw a wrong key.
    await until('haproxy to log the refused call', async () => /apikey~ apikey\/<NOSRV> \S+ 401 /.test(term.log().slice(before)));
  });
});
