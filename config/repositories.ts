/**
 * The repositories a cluster's backups live in: `primary` (storage) and, when configured,
 * `secondary` (storage.secondary, the offsite copy). A procedure reading from the secondary
 * sees a config whose `storage` is the secondary's: every adapter below it is unchanged.
 */
import { RepositoryNotConfiguredError } from '../domain/errors.js';
import type { PgdrConfig } from './schema.js';
import { derivedConfig } from './load.js';

export const REPOSITORIES = ['primary', 'secondary'] as const;
export type Repository = (typeof REPOSITORIES)[number];
/** What a restore, drill or rebuild may ask for: auto reads the primary, or the secondary when the primary is unreachable. */
export type RepositoryChoice = Repository | 'auto';

/** The config as a procedure on `repository` sees it: storage is that repository's. */
export function repositoryConfig(config: PgdrConfig, repository: Repository | undefined): PgdrConfig {
  if (repository === undefined || repository === 'primary') return config;
  const secondary = config.storage.secondary;
  if (!secondary) throw new RepositoryNotConfiguredError(repository);
  return derivedConfig(config, { ...config, storage: { ...secondary, secondary: undefined } });
}

/** Refuses a choice that names the secondary when none is configured (auto then means the primary alone). */
export function checkRepositoryChoice(config: PgdrConfig, choice: RepositoryChoice | undefined): void {
  if (choice === 'secondary' && !config.storage.secondary) throw new RepositoryNotConfiguredError(choice);
}
