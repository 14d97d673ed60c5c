/** What tests need from the shared stack: the config, a Temporal client, the API. */
import { inject } from 'vitest';
import type { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { connectTemporalClient, connectWorker } from '../../adapters/temporalConnection.js';
import { loadConfig } from '../../config/load.js';
import type { PgdrConfig } from '../../config/schema.js';

export function stackConfig(): PgdrConfig {
  return loadConfig(inject('configPath'));
}

export async function temporalClient(config = stackConfig()): Promise<{ client: Client; close: () => Promise<void> }> {
  const { client, connection } = await connectTemporalClient(config.temporal);
  return { client, close: () => connection.close() };
}

export async function workerConnection(config = stackConfig()): Promise<NativeConnection> {
  return connectWorker(config.temporal);
}

export async function api(
  method: string,
  path: string,
  opts: { token?: string | null; body?: unknown } = {},
): Promise<{ status: number; body: any }> {
  const token = opts.token === undefined ? inject('apiToken') : opts.token;
  const res = await fetch(`${inject('apiUrl')}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A task queue no other test uses. */
export function freshQueue(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls fn until it returns something truthy; throws naming what it waited for. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
