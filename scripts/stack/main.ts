/**
 * The local dev stack: Temporal dev server, MinIO (TLS), the demo Postgres cluster, and
 * optionally pgdr's worker and API.
 *
 *   tsx scripts/stack/main.ts up [--apps]   start (idempotent), write pgdr.yaml
 *   tsx scripts/stack/main.ts down          stop everything this stack started, restored copies too; data and logs stay
 *   tsx scripts/stack/main.ts status        what runs, and where (restored copies still running included)
 */
import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { stackLayout, type StackLayout } from './layout.js';
import { ensureTls } from './tls.js';
import { ensureSecrets } from './secrets.js';
import { ensureTemporal, stopTemporal } from './temporal.js';
import { ensureMinio, ensureBucket, ensureLockedBucket, minioInstances, stopMinio, STACK_LOCKED_BUCKET } from './minio.js';
import { demoClusterPlan, ensureCluster, stopCluster, NO_ARCHIVE_COMMANDS } from './postgres.js';
import { secondaryStorageConfig, stackConfig, STACK_SECONDARY_BUCKET, writeStackConfig } from './config.js';
import { ensureApps, stopApps, appsRunning, appEnv } from './apps.js';
import { buildEntries } from '../build.js';
import { portOpen } from './procs.js';
import { liveRestoredCopies, stopRestoredCopies } from './copies.js';
import { parseConfig } from '../../config/load.js';
import { archiveCommands } from '../../config/archiveCommands.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';

export async function stackUp(layout: StackLayout, opts: { apps: boolean }): Promise<void> {
  for (const d of [layout.dir, layout.logs, layout.run]) mkdirSync(d, { recursive: true });
  const step = async (what: string, fn: () => Promise<unknown>) => {
    const t0 = Date.now();
    await fn();
    console.log(`stack: ${what} ready (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  };
  const tls = await ensureTls(layout.tls);
  // Postgres runs `pgdr wal push|fetch` as its own user: it reads the S3 keys of both repositories.
  const secrets = ensureSecrets(layout.secrets, {
    'minio-access-key': layout.pgUser,
    'minio-secret-key': layout.pgUser,
    'minio-secondary-access-key': layout.pgUser,
    'minio-secondary-secret-key': layout.pgUser,
  });
  const tlsSecondary = await ensureTls(layout.tlsSecondary);
  const raw = stackConfig(layout, tls.caCert, secrets, [demoClusterPlan(layout, NO_ARCHIVE_COMMANDS)]);
  const config = parseConfig(raw, layout.configFile);
  writeStackConfig(layout.configFile, raw);
  const plan = demoClusterPlan(layout, archiveCommands(config, 'demo'));
  // archive_command runs the bundled `pgdr wal push`, and bin/ runs dist/ when it is there:
  // build them from the current sources.
  await buildEntries();
  writeFileSync(
    layout.envFile,
    Object.entries(appEnv(layout, tls.caCert))
      .map(([k, v]) => `export ${k}='${v}'\n`)
      .join(''),
  );

  await Promise.all([
    step(`temporal (ui http://127.0.0.1:${layout.ports.temporalUi})`, () => ensureTemporal(layout)),
    step(`minio (https://127.0.0.1:${layout.ports.minio})`, async () => {
      await ensureMinio(layout, tls, {
        accessKey: secrets['minio-access-key'].value,
        secretKey: secrets['minio-secret-key'].value,
        kmsKey: secrets['minio-kms-key'].value,
      });
      const s3 = createS3Client(config.storage, createSecretReader());
      await ensureBucket(s3, config.storage.bucket);
      await ensureLockedBucket(s3, STACK_LOCKED_BUCKET);
    }),
    step(`secondary minio (https://127.0.0.1:${layout.ports.minioSecondary})`, async () => {
      const creds = {
        accessKey: secrets['minio-secondary-access-key'].value,
        secretKey: secrets['minio-secondary-secret-key'].value,
        kmsKey: secrets['minio-kms-key'].value,
      };
      await ensureMinio(layout, tlsSecondary, creds, minioInstances(layout).secondary);
      const storage = parseConfig(
        { ...raw, storage: { ...(raw.storage as object), secondary: secondaryStorageConfig(layout, tlsSecondary.caCert, secrets) } },
        layout.configFile,
      ).storage.secondary!;
      const s3 = createS3Client({ ...storage, secondary: undefined }, createSecretReader());
      await ensureBucket(s3, STACK_SECONDARY_BUCKET);
    }),
    step(`postgres cluster demo (primary :${plan.primary.port}, replica :${plan.standbys[0]!.port})`, () =>
      ensureCluster(layout, plan, {
        superuserPassword: secrets['pg-superuser-password'].value,
        pgdrPassword: secrets['pgdr-password'].value,
      }),
    ),
  ]);
  if (opts.apps) await step(`pgdr worker and api (http://127.0.0.1:${layout.ports.api})`, () => ensureApps(layout, tls.caCert));
  console.log(`stack: config ${layout.configFile}`);
}

export async function stackDown(layout: StackLayout): Promise<void> {
  await stopApps(layout);
  // Restored copies are servers the stack's restores started: they go down with it.
  for (const c of await stopRestoredCopies(layout))
    console.log(`stack: stopped restored copy ${c.dataDir} (port ${c.port ?? '?'}, ${c.workflowId})`);
  if (existsSync(layout.dir)) await stopCluster(layout, demoClusterPlan(layout, NO_ARCHIVE_COMMANDS));
  await stopMinio(layout);
  await stopMinio(layout, minioInstances(layout).secondary);
  await stopTemporal(layout);
  console.log(`stack: stopped; state and logs kept in ${layout.dir}`);
}

export async function stackStatus(layout: StackLayout): Promise<Record<string, boolean>> {
  const p = layout.ports;
  const apps = appsRunning(layout);
  return {
    temporal: await portOpen(p.temporal),
    temporalUi: await portOpen(p.temporalUi),
    minio: await portOpen(p.minio),
    minioSecondary: await portOpen(p.minioSecondary),
    pgPrimary: await portOpen(p.pg.primary),
    pgReplica: await portOpen(p.pg.replica),
    worker: apps.worker,
    api: apps.api && (await portOpen(p.api)),
  };
}

async function main(argv: string[]): Promise<void> {
  const layout = stackLayout();
  const [cmd, ...rest] = argv;
  if (cmd === 'up') return stackUp(layout, { apps: rest.includes('--apps') });
  if (cmd === 'down') return stackDown(layout);
  if (cmd === 'status') {
    const s = await stackStatus(layout);
    for (const [k, v] of Object.entries(s)) console.log(`${k.padEnd(12)} ${v ? 'up' : 'down'}`);
    for (const c of liveRestoredCopies(layout))
      console.log(`${'copy'.padEnd(12)} up ${c.dataDir} port ${c.port ?? '?'} pid ${c.pid} (${c.workflowId})`);
    console.log(`state dir    ${layout.dir}`);
    return;
  }
  throw new Error(`unknown command "${cmd ?? ''}": expected up [--apps], down or status`);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('scripts/stack/main.ts')) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`stack: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
