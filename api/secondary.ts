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
import { getReport, listReports, type ReportKinds } from '../adapters/reportStore.js';

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

/**
 * Stored reports of a kind from both repositories: a restore, drill or rebuild that read the
 * secondary stored its report there. Oldest first by id; the secondary not answering only
 * leaves its reports out (the primary's failure fails the request, as before repositories).
 */
export async function reportsOfBoth<K extends 'restores' | 'drills' | 'rebuilds'>(
  deps: ApiDeps,
  kind: K,
  cluster: string,
): Promise<ReportKinds[K][]> {
  const primary = await listReports(deps, kind, cluster);
  const s = secondaryOf(deps);
  if (!s) return primary;
  const secondary = await listReports({ config: s.config, s3: s.s3 }, kind, cluster).catch(() => []);
  const key = (r: ReportKinds[K]) => ('id' in r ? String(r.id) : r.startedAt);
  return [...primary, ...secondary].sort((a, b) => key(a).localeCompare(key(b)));
}

/** One stored report from the primary, else from the secondary. */
export async function reportOfEither<K extends 'restores' | 'drills'>(
  deps: ApiDeps,
  kind: K,
  cluster: string,
  id: string,
): Promise<ReportKinds[K] | undefined> {
  const found = await getReport(deps, kind, cluster, id);
  const s = secondaryOf(deps);
  if (found || !s) return found;
  return getReport({ config: s.config, s3: s.s3 }, kind, cluster, id).catch(() => undefined);
}
