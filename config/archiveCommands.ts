/**
 * archive_command and restore_command as pgdr writes them into postgresql.conf: derived from
 * the config (launcher, config file, cluster, method), never a secret.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../domain/errors.js';
import { prefetchSpool } from '../domain/walAgent.js';
import { configSource } from './load.js';
import { clusterOf } from './lookup.js';
import type { PgdrConfig } from './schema.js';
import type { Repository } from './repositories.js';

/** Quotes a path for the shell Postgres runs archive_command in, when it needs quoting. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const BUNDLED_LAUNCHER = fileURLToPath(new URL('../bin/pgdr', import.meta.url));

/** A thin client (pgdr-archive, pgdr-restore): beside the configured launcher, as the package installs them. */
function thinClient(pgdrCommand: string | undefined, name: 'pgdr-archive' | 'pgdr-restore'): string {
  return pgdrCommand ? join(dirname(pgdrCommand), name) : fileURLToPath(new URL(`../bin/${name}`, import.meta.url));
}

/**
 * archive_command and restore_command for a cluster: `pgdr wal push|fetch` with the config
 * file and cluster name. Paths only, never a secret: the pusher reads the S3 keys itself.
 */
export function archiveCommands(
  config: PgdrConfig,
  cluster: string,
  repository: Repository = 'primary',
): { archiveCommand: string; restoreCommand: string } {
  const a = clusterOf(config, cluster).archive;
  const configFile = a.configPath ?? configSource(config);
  if (!configFile) {
    throw new ConfigError(
      [
        {
          field: `clusters.${cluster}.archive.configPath`,
          message: 'expected the path of pgdr.yaml on the database hosts (got missing, and this config was not read from a file)',
        },
      ],
      'config',
    );
  }
  // pgBackRest refuses to back up unless archive_command mentions it; --via says, truthfully, who stores the WAL.
  const via = clusterOf(config, cluster).method === 'pgbackrest' ? ' --via pgbackrest' : '';
  const base = `${shellWord(a.pgdrCommand ?? BUNDLED_LAUNCHER)} wal %s --config ${shellWord(configFile)} --cluster ${cluster}${via}`;
  // A restore from the offsite copy fetches its WAL there too; archiving always goes to the primary.
  const from = repository === 'secondary' ? ' --repository secondary' : '';
  const push = `${base.replace('%s', 'push')} %p`;
  // The basebackup method asks the node agent's archiver first; `pgdr wal push` is its fallback.
  const agent = clusterOf(config, cluster).method === 'basebackup' && a.agent.enabled;
  const archiveCommand = agent
    ? `${shellWord(thinClient(a.pgdrCommand, 'pgdr-archive'))} --state ${shellWord(a.agent.stateDir)} --cluster ${cluster} --wait ${a.agent.waitSeconds} -- ${push}`
    : push;
  return { archiveCommand, restoreCommand: `${base.replace('%s', 'fetch')}${from} %f %p` };
}

/** How long restore_command waits for the prefetcher before it fetches directly. */
const PREFETCH_WAIT_SECONDS = 30;

/**
 * restore_command of a server at `dataDir` that replays from the archive (a restored copy, a
 * rebuilt standby catching up): the prefetch spool's thin client with `pgdr wal fetch` behind it
 * (basebackup method, restore.prefetch), else `pgdr wal fetch`.
 */
export function copyRestoreCommand(config: PgdrConfig, cluster: string, repository: Repository, dataDir: string): string {
  const { restoreCommand } = archiveCommands(config, cluster, repository);
  const c = clusterOf(config, cluster);
  if (c.method !== 'basebackup' || !c.restore.prefetch) return restoreCommand;
  const client = shellWord(thinClient(c.archive.pgdrCommand, 'pgdr-restore'));
  return `${client} --spool ${shellWord(prefetchSpool(dataDir))} --wait ${PREFETCH_WAIT_SECONDS} -- ${restoreCommand}`;
}
