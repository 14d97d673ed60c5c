/**
 * The CLI's view of the API: base URL and token from PGDR_API_URL / PGDR_API_TOKEN, else from
 * pgdr.yaml (api.host, api.port, api.token). Errors from the API are shown as the API says them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, configPath } from '../config/load.js';
import { createSecretReader } from '../adapters/secrets.js';
import { printable } from './format.js';

export interface ApiTarget {
  url: string;
  token: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error?: { code?: string; message?: string } } | undefined,
  ) {
    super(body?.error?.message ?? `http ${status}`);
  }
}

/** Thrown when the answer is not JSON (a proxy's error page, something else on the port): shown as text, never parsed. */
export class NonJsonReplyError extends Error {
  /** How much of the answer the message shows. */
  static readonly SHOWN_CHARS = 500;
  constructor(url: string, readonly status: number, contentType: string | null, text: string) {
    const shown = text.length > NonJsonReplyError.SHOWN_CHARS ? `${text.slice(0, NonJsonReplyError.SHOWN_CHARS)}... (${text.length} characters)` : text;
    super(`the API at ${url} answered http ${status} with a body that is not JSON (content-type ${contentType ?? 'none'}): ${printable(shown)}\nHINT: does PGDR_API_URL point at the pgdr API?`);
  }
}

export function apiTarget(env: NodeJS.ProcessEnv = process.env): ApiTarget {
  if (env.PGDR_API_URL && env.PGDR_API_TOKEN) return { url: env.PGDR_API_URL, token: env.PGDR_API_TOKEN };
  // With no PGDR_CONFIG and no ./pgdr.yaml, fall back to the config `npm run demo` wrote.
  const demo = join(dirname(fileURLToPath(import.meta.url)), '..', '.pgdr-stack', 'demo', 'pgdr.yaml');
  const path = !env.PGDR_CONFIG && !existsSync(configPath(env)) && existsSync(demo) ? demo : configPath(env);
  if (!existsSync(path)) {
    throw new Error(`no API to talk to: set PGDR_API_URL and PGDR_API_TOKEN, or PGDR_CONFIG to a pgdr.yaml (looked for ${path})\nHINT: after npm run demo, run: source .pgdr-stack/demo/env`);
  }
  const config = loadConfig(path);
  const host = config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host;
  return {
    url: env.PGDR_API_URL || `http://${host}:${config.api.port}`,
    token: env.PGDR_API_TOKEN || createSecretReader(env)(config.api.token, 'api.token'),
  };
}

export async function apiCall<T>(target: ApiTarget, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(`cannot reach the pgdr API at ${target.url}: ${(err as Error).cause ?? (err as Error).message}\nHINT: is it running? (npm run demo starts one)`);
  }
  const text = await res.text();
  let parsed: { error?: { code?: string; message?: string } } | undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    throw new NonJsonReplyError(target.url, res.status, res.headers.get('content-type'), text);
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed as T;
}
