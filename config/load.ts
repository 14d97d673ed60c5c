import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../domain/errors.js';
import { configSchema, type PgdrConfig } from './schema.js';
import { overlayTemporalEnv } from './temporalEnv.js';

/** Turns zod issues into `field: message` pairs, where field is a dotted path like clusters.demo.nodes.a.port. */
export function describeIssues(error: z.ZodError, input: unknown): { field: string; message: string }[] {
  return error.issues.map((issue) => {
    const field = issue.path.map(String).join('.') || '(root)';
    const actual = valueAt(input, issue.path);
    // An age identity pasted where a key or a secret ref belongs is a secret: never echoed.
    // Nor is the user:password@ of a URL.
    const shown =
      actual === undefined
        ? 'missing'
        : JSON.stringify(actual)
            .replace(/AGE-SECRET-KEY-1[0-9A-Z]*/g, 'AGE-SECRET-KEY-1...')
            // Everything up to the last "@" of a URL, a "/" or a second "@" in the password included, and
            // a user:password@ without a scheme.
            .replace(/([a-z][a-z0-9+.-]*:\/\/)[^"\s]*@/gi, '$1***@')
            .replace(/(^|["\s])(?![a-z][a-z0-9+.-]*:\/\/)[^"\s/:@]+:[^"\s]*@/gi, '$1***@');
    if (issue.code === 'invalid_key') {
      // A bad record key (cluster or node name): say why the key is wrong, not that the value is.
      const inner = issue.issues.map((i) => lowerFirst(i.message)).join('; ');
      return { field, message: `invalid name: ${inner} (got ${JSON.stringify(issue.path.at(-1))})` };
    }
    const text = lowerFirst(issue.message.replace(/^Invalid input: /, ''));
    const message = issue.code === 'unrecognized_keys' ? text : `${text} (got ${shown})`;
    return { field, message };
  });
}

/** Messages are lowercase by convention; field names and quoted values keep their case. */
function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Validates a raw config object; throws ConfigError naming every bad field. The result is deeply frozen. */
export function parseConfig(raw: unknown, source = 'config'): PgdrConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error, raw), source);
  const config = deepFreeze(result.data);
  if (isAbsolute(source)) sources.set(config, source);
  return config;
}

const sources = new WeakMap<PgdrConfig, string>();

/** The file a config was read from, when it came from one (for commands that must name it, like archive_command). */
export function configSource(config: PgdrConfig): string | undefined {
  return sources.get(config);
}

/** `derived` (a view of `from`, e.g. on another repository) remembers the file `from` was read from. */
export function derivedConfig(from: PgdrConfig, derived: PgdrConfig): PgdrConfig {
  const source = sources.get(from);
  if (source !== undefined) sources.set(derived, source);
  return derived;
}

/** Default config path: $PGDR_CONFIG, else ./pgdr.yaml. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PGDR_CONFIG || 'pgdr.yaml';
}

/**
 * Reads and validates pgdr.yaml. Temporal's client variables in `env` (TEMPORAL_ADDRESS,
 * TEMPORAL_TLS_*, ...) override its `temporal` section field by field (config/temporalEnv.ts);
 * an error in a value that came from one names the variable.
 */
export function loadConfig(path = configPath(), env: NodeJS.ProcessEnv = process.env): PgdrConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ field: '(file)', message: `cannot read ${path}: ${(err as Error).message}` }], path);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ field: '(yaml)', message: (err as Error).message.split('\n')[0] ?? 'parse error' }], path);
  }
  const overlay = overlayTemporalEnv(raw, env);
  if (overlay.issues.length) throw new ConfigError(overlay.issues, path);
  try {
    return parseConfig(overlay.raw, resolve(path));
  } catch (err) {
    if (!(err instanceof ConfigError) || overlay.fromEnv.size === 0) throw err;
    const named = err.issues.map((i) => {
      const name = overlay.fromEnv.get(i.field);
      return name ? { ...i, field: `${i.field} (from ${name})` } : i;
    });
    throw new ConfigError(named, path);
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
