/** storage.secondary for a test's config: the shared stack's second MinIO (own port, keys and CA). */
import { inject } from 'vitest';
import { join } from 'node:path';
import { stackLayout } from '../../scripts/stack/layout.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import { secondaryStorageConfig } from '../../scripts/stack/config.js';
import type { S3Client } from '@aws-sdk/client-s3';
import { pitrSource, type PitrSource } from './restore.js';
import { ownMinio, type OwnService } from './services.js';
import { repositoryConfig } from '../../config/repositories.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import type { PgdrConfig } from '../../config/schema.js';

/** The stack's secondary repository under `prefix`, with no copy schedule (tests trigger copies). */
export function stackSecondary(prefix: string): Record<string, unknown> {
  const layout = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
  const secrets = ensureSecrets(layout.secrets);
  return { ...secondaryStorageConfig(layout, join(layout.tlsSecondary, 'ca.crt'), secrets), prefix, copyCron: null };
}

/** A PITR source whose primary repository is a MinIO of the test's own (it can be stopped) and whose secondary is the stack's. */
export interface SecondarySource {
  own: OwnService & { endpoint: string };
  src: PitrSource;
  /** The config as a procedure on the secondary sees it. */
  secondary: PgdrConfig;
  /** An S3 client of the secondary. */
  far: S3Client;
  close(): Promise<void>;
}

export async function secondarySource(prefix: string, method: 'basebackup' | 'pgbackrest'): Promise<SecondarySource> {
  const own = await ownMinio(`${prefix}-primary`);
  let src: PitrSource;
  try {
    src = await pitrSource(prefix, {
      method,
      tickSeconds: 4,
      adjustRoot: (raw) => {
        raw.storage.endpoint = own.endpoint;
        raw.storage.secondary = stackSecondary(raw.storage.prefix);
      },
    });
  } catch (err) {
    await own.close();
    throw err;
  }
  const secondary = repositoryConfig(src.tc.config, 'secondary');
  const far = createS3Client(secondary.storage, createSecretReader());
  return {
    own,
    src,
    secondary,
    far,
    async close() {
      far.destroy();
      await src.close();
      await own.close();
    },
  };
}
