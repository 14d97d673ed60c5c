/**
 * Generated secrets of the dev stack, one file each (mode 0600). pgdr.yaml refers to them by
 * path; their values never go into the config, argv or workflow inputs.
 */
import { existsSync, mkdirSync, writeFileSync, readFileSync, chmodSync, chownSync } from 'node:fs';
import { asUser } from '../../adapters/gateway.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const SECRET_NAMES = [
  'minio-access-key',
  'minio-secret-key',
  'minio-kms-key',
  'minio-secondary-access-key',
  'minio-secondary-secret-key',
  'pg-superuser-password',
  'pgdr-password',
  'api-token',
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/**
 * Creates missing secrets. `owners` hands some files to another OS user: Postgres runs
 * `pgdr wal push` as its own user, which must read the S3 keys (the directory is 0711:
 * passable, not listable).
 */
export function ensureSecrets(
  dir: string,
  owners: Partial<Record<SecretName, string>> = {},
): Record<SecretName, { file: string; value: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
  const out = {} as Record<SecretName, { file: string; value: string }>;
  for (const name of SECRET_NAMES) {
    const file = join(dir, name);
    if (!existsSync(file)) writeFileSync(file, `${generate(name)}\n`, { mode: 0o600 });
    const ids = asUser(owners[name]);
    if (ids) chownSync(file, ids.uid, ids.gid);
    out[name] = { file, value: readFileSync(file, 'utf8').trim() };
  }
  return out;
}

/** A new secret value: MinIO's static KMS key is 32 bytes in base64, the rest are hex. */
function generate(name: SecretName): string {
  if (name === 'minio-kms-key') return randomBytes(32).toString('base64');
  return `${name.endsWith('access-key') ? 'pgdr' : ''}${randomBytes(18).toString('hex')}`;
}
