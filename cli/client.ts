/**
 * The CLI's view of the API: base URL from --api-url, else PGDR_API_URL; token from the file
 * PGDR_API_TOKEN_FILE names, else PGDR_API_TOKEN; whatever is missing comes from pgdr.yaml
 * (api.host, api.port, api.token). The token is never taken from argv. Errors from the API are
 * shown as the API says them.
 */
import { existsSync, readFileSync } from 'node:fs';
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
  constructor(
    url: string,
    readonly status: number,
    contentType: string | null,
    text: string,
  ) {
    const shown =
      text.length > NonJsonReplyError.SHOWN_CHARS ? `${text.slice(0, NonJsonReplyError.SHOWN_CHARS)}... (${text.length} characters)` : text;
    super(
      `the API at ${url} answered http ${status} with a body that is not JSON (content-type ${contentType ?? 'none'}): ${printable(shown)}\nHINT: does PGDR_API_URL point at the pgdr API?`,
    );
  }
}

export interface TargetOptions {
  /** --api-url: wins over PGDR_API_URL and pgdr.yaml. */
  apiUrl?: string | undefined;
}

/** The bearer token in the file PGDR_API_TOKEN_FILE names: the whole file, surrounding whitespace trimmed. */
export function readTokenFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const denied = 'permission denied';
    const known: Record<string, string> = { ENOENT: 'no such file', EACCES: denied, EPERM: denied, EISDIR: 'it is a directory' };
    const why = known[code ?? ''] ?? (err as Error).message;
    throw new Error(`cannot read PGDR_API_TOKEN_FILE "${path}": ${why}\nHINT: expected a file holding the API token`);
  }
  const token = text.trim();
  if (!token) throw new Error(`PGDR_API_TOKEN_FILE "${path}" is empty: expected the API token (api.token of pgdr.yaml)`);
  if (/\s/.test(token)) throw new Error(`PGDR_API_TOKEN_FILE "${path}" holds more than one line or word: expected the API token alone`);
  return token;
}

/** The token from the environment (PGDR_API_TOKEN_FILE or PGDR_API_TOKEN), if it names one. */
function tokenFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  if (env.PGDR_API_TOKEN_FILE && env.PGDR_API_TOKEN) {
    throw new Error('both PGDR_API_TOKEN_FILE and PGDR_API_TOKEN are set: expected one of them\nHINT: unset PGDR_API_TOKEN');
  }
  if (env.PGDR_API_TOKEN_FILE) return readTokenFile(env.PGDR_API_TOKEN_FILE);
  return env.PGDR_API_TOKEN || undefined;
}

export function apiTarget(env: NodeJS.ProcessEnv = process.env, opts: TargetOptions = {}): ApiTarget {
  const url = opts.apiUrl || env.PGDR_API_URL || undefined;
  const token = tokenFromEnv(env);
  if (url && token) return { url, token };
  // With no PGDR_CONFIG and no ./pgdr.yaml, fall back to the config `npm run demo` wrote.
  const demo = join(dirname(fileURLToPath(import.meta.url)), '..', '.pgdr-stack', 'demo', 'pgdr.yaml');
  const path = !env.PGDR_CONFIG && !existsSync(configPath(env)) && existsSync(demo) ? demo : configPath(env);
  if (!existsSync(path)) {
    throw new Error(
      url
        ? `no API token: set PGDR_API_TOKEN_FILE to a file holding it, or PGDR_CONFIG to a pgdr.yaml (looked for ${path})`
        : `no API to talk to: set PGDR_API_URL and PGDR_API_TOKEN, or PGDR_CONFIG to a pgdr.yaml (looked for ${path})` +
            '\nHINT: after npm run demo, run: source .pgdr-stack/demo/env; --api-url and PGDR_API_TOKEN_FILE work too',
    );
  }
  const config = loadConfig(path);
  const host = config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host;
  return {
    url: url ?? `http://${host}:${config.api.port}`,
    token: token ?? createSecretReader(env)(config.api.token, 'api.token'),
  };
}

/** The API path of a cluster, its name encoded. */
export const clusterPath = (cluster: string): string => `/api/v1/clusters/${encodeURIComponent(cluster)}`;

export async function apiCall<T>(target: ApiTarget, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new Error(
      `cannot reach the pgdr API at ${target.url}: ${(err as Error).cause ?? (err as Error).message}\nHINT: is it running? (npm run demo starts one)`,
    );
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
