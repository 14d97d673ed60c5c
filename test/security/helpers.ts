/**
 * What the security tests share: the stack's secret values, counting a cluster's workflows,
 * holding a cluster's lock without a worker, and the API on a real port for the CLI.
 */
import { inject } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { lockWorkflowId } from '../../domain/naming.js';
import { buildServer } from '../../api/server.js';
import { SECRET_NAMES } from '../../scripts/stack/secrets.js';
import type { TestCluster } from '../helpers/cluster.js';

export const TEST_TOKEN = 'test-token';

/** Every secret of the shared test stack, by file name (at least SECRET_NAMES). */
export function stackSecrets(): Record<string, string> {
  const dir = join(inject('stackDir'), 'secrets');
  const out = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8').trim()]));
  for (const name of SECRET_NAMES) {
    if (!out[name] || out[name].length < 16) throw new Error(`stack secret ${name} missing or too short in ${dir}`);
  }
  return out;
}

/** Names of the secrets whose value occurs in text. */
export function leakedIn(text: string, secrets: Record<string, string>): string[] {
  return Object.entries(secrets)
    .filter(([, value]) => text.includes(value))
    .map(([name]) => name);
}

/** Workflows started for these clusters (by the PgdrCluster search attribute). */
export async function countWorkflows(temporal: Client, clusters: string[]): Promise<number> {
  const query = `PgdrCluster IN (${clusters.map((c) => `'${c}'`).join(', ')})`;
  return (await temporal.workflow.count(query)).count;
}

/**
 * Holds the cluster's lock the way withClusterLock does (the lock workflow id, the holder in
 * its memo), on a task queue nobody polls, so it stays held until released.
 */
export async function holdLock(temporal: Client, cluster: string, holder: string): Promise<{ release(): Promise<void> }> {
  const handle = await temporal.workflow.start('clusterLock', {
    taskQueue: `pgdr-security-nobody-${cluster}`,
    workflowId: lockWorkflowId(cluster),
    args: [{ cluster, holder }],
    memo: { holder },
  });
  return { release: () => handle.terminate('security test done').then(() => undefined) };
}

export interface Sent {
  status: number;
  headers: Record<string, unknown>;
  /** The raw answer. */
  text: string;
  /** The answer parsed as JSON, when it is JSON. */
  body: any;
}

export interface SendOptions {
  method: string;
  url: string;
  /** An object is sent as JSON; a string as is (with contentType). */
  body?: unknown;
  contentType?: string;
  /** undefined: the right token; null: no authorization header; a string: that header. */
  authorization?: string | null;
}

/**
 * The test cluster's API (token TEST_TOKEN) in this process: send() injects a request and
 * gives up after timeoutMs (a request that got past validation may wait on a workflow nobody
 * runs); listen() puts it on a real port for the CLI.
 */
export function securityApi(tc: TestCluster, temporal: Client, s3: Parameters<typeof buildServer>[0]['s3']) {
  const app = buildServer({ config: tc.config, temporal, s3, token: TEST_TOKEN });
  async function send(o: SendOptions, timeoutMs = 15_000): Promise<Sent> {
    const headers: Record<string, string> = {};
    if (o.authorization !== null) headers.authorization = o.authorization ?? `Bearer ${TEST_TOKEN}`;
    if (o.contentType) headers['content-type'] = o.contentType;
    else if (o.body !== undefined && typeof o.body !== 'string') headers['content-type'] = 'application/json';
    const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${o.method} ${o.url} got no answer within ${timeoutMs} ms: it went past validation`)),
        timeoutMs,
      );
    });
    try {
      const res = await Promise.race([
        app.inject({ method: o.method as 'GET', url: o.url, headers, ...(payload !== undefined ? { payload } : {}) }),
        timeout,
      ]);
      let body: unknown;
      try {
        body = res.body ? JSON.parse(res.body) : undefined;
      } catch {
        body = undefined;
      }
      return { status: res.statusCode, headers: res.headers, text: res.body, body };
    } finally {
      clearTimeout(timer);
    }
  }
  return {
    send,
    async listen(): Promise<string> {
      return app.listen({ host: '127.0.0.1', port: 0 });
    },
    close: () => app.close(),
  };
}
