/**
 * Resolves secret references from the worker's own environment or files, by cluster name.
 * Secrets are read at the moment of use inside activities and never returned to workflows.
 */
import { readFileSync } from 'node:fs';
import { SecretUnavailableError } from '../domain/errors.js';
import type { PgdrConfig, SecretRef } from '../config/schema.js';

export type SecretReader = (ref: SecretRef, what: string) => string;

export function createSecretReader(env: NodeJS.ProcessEnv = process.env): SecretReader {
  return (ref, what) => {
    if ('env' in ref) {
      const value = env[ref.env];
      if (!value) throw new SecretUnavailableError(what, `environment variable ${ref.env} is not set`);
      return value;
    }
    try {
      const value = readFileSync(ref.file, 'utf8').trim();
      if (!value) throw new Error('file is empty');
      return value;
    } catch (err) {
      throw new SecretUnavailableError(what, `cannot read ${ref.file}: ${(err as Error).message}`);
    }
  };
}

/** The Postgres password of a cluster's pgdr role, or undefined when none is configured. */
export function clusterPassword(config: PgdrConfig, cluster: string, read: SecretReader): string | undefined {
  const ref = config.clusters[cluster]?.password;
  return ref ? read(ref, `cluster "${cluster}" password`) : undefined;
}
