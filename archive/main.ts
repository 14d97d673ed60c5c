/**
 * `pgdr wal push` and `pgdr wal fetch`: what Postgres runs as archive_command and
 * restore_command, once per WAL segment. Kept lean on purpose (no commander, no API client):
 * bin/pgdr runs a pre-bundled copy of this file so a push starts quickly.
 *
 *   archive_command = '<pgdr> wal push --config <pgdr.yaml> --cluster <name> %p'
 *   restore_command = '<pgdr> wal fetch --config <pgdr.yaml> --cluster <name> %f %p'
 *
 * Exit codes: 0 done; 1 push failed, or fetch found no such file (Postgres then tries streaming
 * or ends recovery); 2 bad usage; 126 fetch found a corrupt object, which makes Postgres stop
 * recovery instead of silently ending it early.
 */
import { PgdrError, WalCorruptError } from '../domain/errors.js';

const USAGE = `usage:
  pgdr wal push  [--config PATH] --cluster NAME [--via basebackup|pgbackrest] <path>           archive one WAL file (archive_command %p)
  pgdr wal fetch [--config PATH] --cluster NAME [--via basebackup|pgbackrest] [--repository primary|secondary] <name> <dest>
                                                                                             restore one WAL file (restore_command %f %p)`;

export interface WalArgs {
  action: 'push' | 'fetch';
  config?: string;
  cluster: string;
  /** Who stores the WAL, as archive_command states it (checked against the cluster's method). */
  via?: string;
  /** fetch: the repository to read (a restore from the offsite copy); push always writes the primary. */
  repository?: 'primary' | 'secondary';
  positional: string[];
}

export function parseWalArgs(argv: string[]): WalArgs {
  const [action, ...rest] = argv;
  if (action !== 'push' && action !== 'fetch') throw new UsageError(`unknown wal action "${action ?? ''}": expected push or fetch`);
  let config: string | undefined;
  let cluster: string | undefined;
  let via: string | undefined;
  let repository: string | undefined;
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const value = () => {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    if (arg === '--config') config = value();
    else if (arg.startsWith('--config=')) config = arg.slice(9);
    else if (arg === '--cluster') cluster = value();
    else if (arg.startsWith('--cluster=')) cluster = arg.slice(10);
    else if (arg === '--via') via = value();
    else if (arg.startsWith('--via=')) via = arg.slice(6);
    else if (arg === '--repository') repository = value();
    else if (arg.startsWith('--repository=')) repository = arg.slice(13);
    else if (arg.startsWith('--')) throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (!cluster) throw new UsageError('--cluster is required');
  if (repository !== undefined && (action !== 'fetch' || (repository !== 'primary' && repository !== 'secondary')))
    throw new UsageError(
      `--repository is "${repository}": expected primary or secondary, with fetch only (push always writes the primary)`,
    );
  const want = action === 'push' ? 1 : 2;
  if (positional.length !== want) {
    throw new UsageError(`wal ${action} expects ${action === 'push' ? '<path>' : '<name> <dest>'}, got ${positional.length} argument(s)`);
  }
  return { action, config, cluster, via, positional, ...(repository ? { repository: repository as WalArgs['repository'] } : {}) };
}

class UsageError extends Error {}

export async function runWal(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let args: WalArgs;
  try {
    args = parseWalArgs(argv);
  } catch (err) {
    process.stderr.write(`pgdr wal: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    // Imported here, not at the top, so usage errors answer without loading the S3 SDK.
    const [{ configPath }, { loadAnyConfig }, { createS3Client }, { createSecretReader }, { clusterOf }, wal, { repositoryConfig }] =
      await Promise.all([
        import('../config/load.js'),
        import('../config/standalone.js'),
        import('../adapters/storage.js'),
        import('../adapters/secrets.js'),
        import('../config/lookup.js'),
        import('../adapters/walStore.js'),
        import('../config/repositories.js'),
      ]);
    // pgdr.yaml, or the storage config of a `pgdr restore --standalone` (its copy fetches WAL with it).
    const config = repositoryConfig(loadAnyConfig(args.config ?? configPath(env), env), args.repository);
    const method = clusterOf(config, args.cluster).method;
    if (args.via !== undefined && args.via !== method) {
      throw new Error(
        `--via ${args.via} does not match cluster "${args.cluster}", whose method is ${method}: run pgdr archive enable ${args.cluster} to set archive_command again`,
      );
    }
    if (method === 'pgbackrest') {
      // pgBackRest keeps WAL in its own repo: hand over to archive-push / archive-get.
      const { pgbackrestWal } = await import('../adapters/pgbackrest.js');
      return pgbackrestWal(
        config,
        createSecretReader(env),
        args.cluster,
        args.action === 'push' ? 'archive-push' : 'archive-get',
        args.positional,
      );
    }
    const readSecret = createSecretReader(env);
    const deps = { config, s3: createS3Client(config.storage, readSecret), readSecret };
    if (args.action === 'push') {
      const res = await wal.pushWal(deps, args.cluster, args.positional[0]!);
      if (!res.uploaded && env.PGDR_WAL_VERBOSE)
        process.stderr.write(`pgdr wal push: ${res.name} was already archived with the same content\n`);
      return 0;
    }
    const res = await wal.fetchWal(deps, args.cluster, args.positional[0]!, args.positional[1]!);
    if (!res) {
      if (env.PGDR_WAL_VERBOSE) process.stderr.write(`pgdr wal fetch: ${args.positional[0]} is not in the archive\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`pgdr wal ${args.action}: ${message}\n`);
    if (err instanceof WalCorruptError) return 126;
    return err instanceof PgdrError && err.nonRetryable && args.action === 'fetch' ? 126 : 1;
  }
}

const invokedDirectly = process.argv[1] && /(^|\/)(archive\/main\.ts|pgdr-wal\.mjs)$/.test(process.argv[1]);
if (invokedDirectly) {
  void runWal(process.argv.slice(2)).then((code) => process.exit(code));
}
