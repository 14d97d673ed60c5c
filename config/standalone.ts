/**
 * The break-glass storage config: all `pgdr restore --standalone` needs when nothing but the
 * bucket is left (no pgdr.yaml, no Temporal, no API). It names the bucket (the same `storage`
 * section as pgdr.yaml), the cluster whose backups and WAL live there, the age identities
 * that decrypt them, and this host's Postgres tools. From it an in-memory PgdrConfig is made:
 * one cluster, one node ("local", this host, the restore's destination). The same file is the
 * restored instance's `restore_command --config` (archive/main.ts reads it too): it holds
 * secret references only, never a secret.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../domain/errors.js';
import { NAME_FORM, NAME_PATTERN } from '../domain/naming.js';
import { clusterSchema, configSchema, encryptionSchema, nodeSchema, restoreSchema, type PgdrConfig } from './schema.js';
import { describeIssues, loadConfig, parseConfig } from './load.js';

/** The one node of a standalone config: this host, where the restore goes. */
export const STANDALONE_NODE = 'local';

/**
 * The node has no data directory of its own (the cluster's servers are gone or unknown): this
 * path stands for none. It must not exist; restores are refused inside it like inside any node's.
 */
export const STANDALONE_NO_DATA_DIR = '/nonexistent/pgdr-standalone-node';

export const standaloneSchema = z
  .object({
    cluster: z
      .string()
      .regex(NAME_PATTERN, `expected the cluster's name as in its bucket paths (<prefix>/<cluster>/...): ${NAME_FORM}`)
      .describe('the cluster whose backups and WAL are in the bucket: <storage.prefix>/<cluster>/...'),
    storage: configSchema.shape.storage.describe("the bucket: the same section as pgdr.yaml's storage (secret refs, never secrets)"),
    encryption: encryptionSchema
      .pick({ identities: true })
      .strict()
      .prefault({})
      .describe('age identities (secret refs) that decrypt an encrypted cluster; leave out for an unencrypted one'),
    node: nodeSchema
      .pick({ host: true, binDir: true, osUser: true })
      .strict()
      .prefault({})
      .describe(
        "this host: the address pgdr reaches the restored copy at (its certificate's name with sslmode verify-full), its Postgres tools (of the backup's major version), and the OS user that will own and run the copy",
      ),
    connection: z
      .object({
        database: clusterSchema.in.shape.database,
        user: clusterSchema.in.shape.user,
        password: clusterSchema.in.shape.password,
        sslmode: clusterSchema.in.shape.sslmode,
        sslRootCert: clusterSchema.in.shape.sslRootCert,
        sslCert: clusterSchema.in.shape.sslCert,
        sslKey: clusterSchema.in.shape.sslKey,
        connectTimeoutSeconds: clusterSchema.in.shape.connectTimeoutSeconds,
      })
      .strict()
      .prefault({})
      .describe(
        "how pgdr connects to the restored copy to follow its replay: the cluster's own role and TLS settings (the copy carries the source's roles, pg_hba.conf and certificate), as in the cluster's section of pgdr.yaml",
      ),
    restore: restoreSchema
      .prefault({})
      .superRefine((r, ctx) => {
        if (r.node !== undefined && r.node !== STANDALONE_NODE)
          ctx.addIssue({
            code: 'custom',
            path: ['node'],
            message: `expected no node (a standalone restore goes to this host, node "${STANDALONE_NODE}"), got "${r.node}"`,
          });
      })
      .describe("where restores go on this host (dir, allowedRoots, ports, recoveryTimeoutMinutes), as in a cluster's restore section"),
  })
  .strict()
  .describe('break-glass restore: the bucket, the cluster in it, and this host');

export type StandaloneConfig = z.infer<typeof standaloneSchema>;

/** Whether a parsed YAML document is a standalone config (top-level `cluster`, no `clusters`). */
export function isStandaloneConfig(raw: unknown): boolean {
  return !!raw && typeof raw === 'object' && 'cluster' in raw && !('clusters' in raw);
}

/**
 * The in-memory PgdrConfig a standalone config stands for. `path`: the file it came from (the
 * restored instance's restore_command reads it); `temporal`: the embedded engine, when one runs.
 */
export function standalonePgdrConfig(
  raw: unknown,
  path: string,
  temporal: { address: string; taskQueue?: string } = { address: '127.0.0.1:7233' },
  /** The pgdr launcher the restored copy's restore_command runs (default: bin/pgdr of this installation). */
  pgdrCommand?: string,
): PgdrConfig {
  const parsed = standaloneSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, raw), path);
  const s = raw as Record<string, unknown>;
  const c = parsed.data;
  // The raw sections go through the main schema again, so every default and check applies as in pgdr.yaml.
  const conn = (s.connection as Record<string, unknown> | undefined) ?? {};
  const parse = () =>
    parseConfig(
      {
        temporal: { address: temporal.address, taskQueue: temporal.taskQueue ?? 'pgdr', uiUrl: 'http://127.0.0.1:8233' },
        storage: s.storage,
        api: { token: { env: 'PGDR_API_TOKEN' } },
        clusters: {
          [c.cluster]: {
            method: 'basebackup',
            ...conn,
            encryption: { identities: c.encryption.identities },
            archive: { configPath: resolve(path), ...(pgdrCommand ? { pgdrCommand } : {}) },
            restore: { ...((s.restore as object | undefined) ?? {}), node: STANDALONE_NODE },
            drill: { cron: null },
            nodes: {
              [STANDALONE_NODE]: { host: c.node.host, dataDir: STANDALONE_NO_DATA_DIR, binDir: c.node.binDir, osUser: c.node.osUser },
            },
          },
        },
      },
      resolve(path),
    );
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Named as in the standalone file, not as in the config made from it.
    const field = (f: string) =>
      f
        .replace(`clusters.${c.cluster}.nodes.${STANDALONE_NODE}.`, 'node.')
        .replace(new RegExp(`^clusters\\.${c.cluster}\\.(restore|encryption)\\.`), '$1.')
        .replace(`clusters.${c.cluster}.`, 'connection.');
    throw new ConfigError(
      err.issues.map((i) => ({ ...i, field: field(i.field) })),
      path,
    );
  }
}

/** Reads a standalone config file; errors name the field, the value and the expected form. */
export function loadStandaloneConfig(path: string, temporal?: { address: string; taskQueue?: string }, pgdrCommand?: string): PgdrConfig {
  return standalonePgdrConfig(readYaml(path), path, temporal, pgdrCommand);
}

/**
 * What `pgdr wal push|fetch --config` reads: pgdr.yaml, or a standalone config (a restored
 * instance of `pgdr restore --standalone` fetches its WAL with it).
 */
export function loadAnyConfig(path: string, env: NodeJS.ProcessEnv = process.env): PgdrConfig {
  let raw: unknown;
  try {
    raw = readYaml(path);
  } catch {
    return loadConfig(path, env); // its own error names the file and the problem
  }
  return isStandaloneConfig(raw) ? standalonePgdrConfig(raw, path) : loadConfig(path, env);
}

function readYaml(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ field: '(file)', message: `cannot read ${path}: ${(err as Error).message}` }], path);
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw new ConfigError([{ field: '(yaml)', message: (err as Error).message.split('\n')[0] ?? 'parse error' }], path);
  }
}
