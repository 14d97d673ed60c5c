/**
 * A Temporal dev server or a MinIO of a test's own, for fault tests that stop and restart
 * them: the shared stack's services must stay up for the test files running beside it. Same
 * binaries, CA and credentials as the shared stack; own ports, own state directory.
 */
import { inject } from 'vitest';
import { join } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { stackLayout, type StackLayout } from '../../scripts/stack/layout.js';
import { freePort, readPid } from '../../scripts/stack/procs.js';
import { ensureTemporal, stopTemporal } from '../../scripts/stack/temporal.js';
import { ensureBucket, ensureMinio, stopMinio } from '../../scripts/stack/minio.js';
import { ensureTls } from '../../scripts/stack/tls.js';
import { ensureSecrets } from '../../scripts/stack/secrets.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { loadConfig } from '../../config/load.js';

export interface OwnService {
  layout: StackLayout;
  /** Stops the service (SIGTERM to its process group, as an operator's restart would). */
  stop(): Promise<void>;
  /** Starts it again on the same ports and state; resolves once it answers. */
  start(): Promise<void>;
  /** The daemon's pid, while it runs. */
  pid(): number | undefined;
  /** Stops it and removes its state. */
  close(): Promise<void>;
}

async function ownLayout(name: string): Promise<StackLayout> {
  const shared = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
  const dir = join(shared.dir, 'own', `${name}-${await freePort()}`);
  const layout: StackLayout = {
    ...shared,
    dir,
    logs: join(dir, 'logs'),
    run: join(dir, 'run'),
    ports: {
      ...shared.ports,
      temporal: await freePort(),
      temporalUi: await freePort(),
      temporalHttp: await freePort(),
      temporalMetrics: await freePort(),
      minio: await freePort(),
      minioConsole: await freePort(),
    },
  };
  mkdirSync(layout.logs, { recursive: true });
  mkdirSync(layout.run, { recursive: true });
  return layout;
}

function service(layout: StackLayout, pidName: string, start: () => Promise<void>, stop: () => Promise<unknown>): OwnService {
  return {
    layout,
    start,
    async stop() {
      await stop();
    },
    pid: () => readPid(join(layout.run, pidName)),
    async close() {
      await stop();
      rmSync(layout.dir, { recursive: true, force: true });
    },
  };
}

/** A Temporal dev server (own SQLite file, pgdr's search attributes); address is host:port. */
export async function ownTemporal(name: string): Promise<OwnService & { address: string }> {
  const layout = await ownLayout(name);
  const start = () => ensureTemporal(layout);
  await start();
  return { ...service(layout, 'temporal.pid', start, () => stopTemporal(layout)), address: `127.0.0.1:${layout.ports.temporal}` };
}

/** A MinIO serving TLS with the shared stack's CA and credentials, with the stack's bucket created. */
export async function ownMinio(name: string): Promise<OwnService & { endpoint: string }> {
  const layout = await ownLayout(name);
  const shared = stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
  const tls = await ensureTls(shared.tls);
  const secrets = ensureSecrets(shared.secrets);
  const creds = {
    accessKey: secrets['minio-access-key'].value,
    secretKey: secrets['minio-secret-key'].value,
    kmsKey: secrets['minio-kms-key'].value,
  };
  const endpoint = `https://127.0.0.1:${layout.ports.minio}`;
  const start = () => ensureMinio(layout, tls, creds);
  await start();
  // The shared stack's storage settings (CA, credentials), pointed at this MinIO.
  const sharedConfig = loadConfig(inject('configPath'));
  const s3 = createS3Client({ ...sharedConfig.storage, endpoint }, createSecretReader());
  await ensureBucket(s3, sharedConfig.storage.bucket);
  s3.destroy();
  return { ...service(layout, 'minio.pid', start, () => stopMinio(layout)), endpoint };
}
