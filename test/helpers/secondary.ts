/** storage.secondary for a test's config: the shared stack's second MinIO (own port, keys and CA). */
import { inject } from 'vitest';
import { join } from 'node:path';
import { stackLayout } from '../../scripts/stack/layout.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import { secondaryStorageConfig } from '../../scripts/stack/config.js';

/** The stack's secondary repository under `prefix`, with no copy schedule (tests trigger copies). */
export function stackSecondary(prefix: string): Record<string, unknown> {
  const layout = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
  const secrets = ensureSecrets(layout.secrets);
  return { ...secondaryStorageConfig(layout, join(layout.tlsSecondary, 'ca.crt'), secrets), prefix, copyCron: null };
}
