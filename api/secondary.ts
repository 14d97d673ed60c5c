/**
 * The API's view of the secondary repository (storage.secondary): its config and an S3 client,
 * made on first use and kept for the API's life. Undefined when no secondary is configured.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';
import { repositoryConfig } from '../config/repositories.js';
import { createS3Client } from '../adapters/storage.js';
import { createSecretReader } from '../adapters/secrets.js';
import type { ApiDeps } from './deps.js';

const clients = new WeakMap<ApiDeps, { config: PgdrConfig; s3: S3Client }>();

export function secondaryOf(deps: ApiDeps): { config: PgdrConfig; s3: S3Client } | undefined {
  if (!deps.config.storage.secondary) return undefined;
  let found = clients.get(deps);
  if (!found) {
    const config = repositoryConfig(deps.config, 'secondary');
    found = { config, s3: createS3Client(config.storage, createSecretReader()) };
    clients.set(deps, found);
  }
  return found;
}

/** The deps of a route reading `repository`: the primary's, or the secondary's. */
export function onRepository(deps: ApiDeps, repository: 'primary' | 'secondary'): ApiDeps {
  if (repository === 'primary') return deps;
  const s = secondaryOf(deps);
  return s ? { ...deps, config: s.config, s3: s.s3 } : deps;
}
