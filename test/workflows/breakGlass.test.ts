/**
 * Break-glass restore, as a user would run it in a disaster: a cluster with a backup and WAL in
 * the bucket, then everything of it gone (its workers, the API clients, the source server);
 * no pgdr.yaml, no PGDR_CONFIG, no running Temporal reachable through any config. Only a small
 * storage config is written, and `pgdr restore --standalone` restores the newest backup to a
 * time in the middle into a fresh directory: exactly the rows committed by then, owned by the
 * Postgres OS user, the report stored in the bucket, the embedded engine gone afterwards. Once
 * unencrypted from the primary, once for an age-encrypted cluster from its secondary repository (the
 * identity given in the small config; the bucket left is the offsite copy's).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import { pitrSource, discardRestore, type PitrSource } from '../helpers/restore.js';
import { timeAfter } from '../helpers/ticks.js';
import { asUser } from '../../adapters/gateway.js';
import { getReport } from '../../adapters/reportStore.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { portOpen } from '../../scripts/stack/procs.js';
import type { RestoreReport } from '../../domain/restore.js';
import { repositoryConfig } from '../../config/repositories.js';
import { stackSecondary } from '../helpers/secondary.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PGDR = join(ROOT, 'bin', 'pgdr');

// bin/pgdr runs dist/ as an installed package does; its embedded worker loads the prebuilt
// workflow bundle that `npm run build` makes (stack up builds only the entry points).
beforeAll(async () => {
  await execa(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'scripts', 'build.ts')], { cwd: ROOT });
}, 180_000);

/** The environment of an operator's shell on the surviving host: nothing points at pgdr.yaml, Temporal or the API. */
function bareEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PGDR_|TEMPORAL_)/.test(k)));
}

interface Disaster {
  cluster: string;
  ticks: PitrSource['ticks'];
  backupId: string;
  storage: Record<string, unknown>;
  connection: Record<string, unknown>;
  config: PitrSource['tc']['config'];
  layout: PitrSource['pgs']['layout'];
  restoreDir: string;
  rows(port: number): Promise<string>;
}

/**
 * A source with a backup and ticks, then its workers, API clients and server stopped: only the
 * bucket is left. `fromSecondary`: the cluster has a second repository, brought up to date by a
 * copy before the disaster, and the bucket left is the secondary's.
 */
async function disaster(prefix: string, adjust?: (cl: Record<string, unknown>) => void, fromSecondary = false): Promise<Disaster> {
  const src = await pitrSource(prefix, {
    tickSeconds: 10,
    ...(adjust ? { adjust } : {}),
    ...(fromSecondary ? { adjustRoot: (r: Record<string, any>) => (r.storage.secondary = stackSecondary(r.storage.prefix)) } : {}),
  });
  const raw = parse(readFileSync(src.tc.configPath, 'utf8'));
  let storage = raw.storage as Record<string, unknown>;
  let config = src.tc.config;
  if (fromSecondary) {
    const copy = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/copies`, {});
    expect(copy.status, JSON.stringify(copy.body)).toBe(202);
    const report = (await src.c.temporal.workflow.getHandle(copy.body.workflowId).result()) as { backupsOnSecondary: string[] };
    expect(report.backupsOnSecondary).toEqual([src.backup.id]);
    // The small config's storage is pgdr.yaml's section: the secondary's fields, without its copy schedule.
    storage = { ...(storage.secondary as Record<string, unknown>) };
    delete storage.copyCron;
    config = repositoryConfig(config, 'secondary');
  }
  // The cluster's SQL role and TLS settings: the restored copy carries its roles, pg_hba.conf and certificate.
  const cl = raw.clusters[src.tc.name] as Record<string, unknown>;
  const keys = ['database', 'user', 'password', 'sslmode', 'sslRootCert', 'sslCert', 'sslKey'];
  const connection = Object.fromEntries(Object.entries(cl).filter(([k]) => keys.includes(k)));
  const d: Disaster = {
    cluster: src.tc.name,
    ticks: src.ticks,
    backupId: src.backup.id,
    storage,
    connection,
    config,
    layout: src.pgs.layout,
    restoreDir: src.restoreDir,
    rows: src.rows,
  };
  await src.close();
  // What is left of the stack's config must not be found by the restore: moved away.
  rmSync(src.tc.configPath);
  return d;
}

/** Writes the small storage config (readable by the Postgres OS user: its restore_command reads it). */
function storageConfig(dir: string, d: Disaster, extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'storage.yaml');
  const small = {
    cluster: d.cluster,
    storage: d.storage,
    connection: d.connection,
    node: { binDir: d.layout.pgBin, osUser: d.layout.pgUser },
    restore: { dir: d.restoreDir },
    ...extra,
  };
  writeFileSync(file, stringify(small), { mode: 0o644 });
  return file;
}

async function breakGlass(cwd: string, args: string[]) {
  return execa(PGDR, args, { cwd, env: bareEnv(), extendEnv: false, reject: false, timeout: 360_000 });
}

/** Restores to the quiet time after the middle tick and checks everything a user relies on. */
async function restoresTheMiddle(d: Disaster, configFile: string, cwd: string, made: string[]): Promise<RestoreReport> {
  const k = Math.floor(d.ticks.length / 2);
  const time = timeAfter(d.ticks, k);
  const dataDir = join(d.restoreDir, `break-glass-${Date.now()}`);
  made.push(dataDir);
  const run = await breakGlass(cwd, [
    'restore',
    d.cluster,
    '--standalone',
    configFile,
    '--time',
    time,
    '--data-dir',
    dataDir,
    '-o',
    'json',
  ]);
  expect(run.exitCode, `${run.stderr}\n${run.stdout}`).toBe(0);
  const out = JSON.parse(run.stdout) as { started: { backupId: string }; operation: { status: string; result: RestoreReport } };
  expect(out.operation.status).toBe('COMPLETED');
  const report = out.operation.result;
  // The newest backup, the directory asked for, paused exactly after tick k.
  expect(report).toMatchObject({
    cluster: d.cluster,
    backupId: d.backupId,
    method: 'basebackup',
    action: 'pause',
    destination: { node: 'local', dataDir },
    stop: { state: 'paused' },
    verification: { tool: 'pg_verifybackup', ok: true },
  });
  expect(await d.rows(report.destination.port)).toBe(`${k}|1|${k}`);
  expect(Date.parse(report.stop.lastCommitTime!)).toBeLessThanOrEqual(Date.parse(time));
  expect(Date.parse(report.stop.lastCommitTime!)).toBeGreaterThanOrEqual(Date.parse(d.ticks[k - 1]!.before));
  // No node was probed: the timeline came from the archive.
  expect(report.timeline).toMatchObject({ source: 'newest' });
  // Owned by the Postgres OS user, as every restore's directory.
  const ids = asUser(d.layout.pgUser);
  if (ids) expect(statSync(dataDir).uid).toBe(ids.uid);
  // The report is in the bucket, like any restore's.
  const stored = await getReport(
    { config: d.config, s3: createS3Client(d.config.storage, createSecretReader()) },
    'restores',
    d.cluster,
    report.id,
  );
  expect(stored).toMatchObject({ id: report.id, backupId: d.backupId, stop: { replayLsn: report.stop.replayLsn } });
  // Progress was printed like --wait's, and the embedded engine is gone with its directory and port.
  // (A step may pass between two polls; the destination's preparation and the end are seen.)
  expect(run.stderr).toMatch(/^(preparing the destination|downloading and extracting .*)$/m);
  expect(run.stderr).toMatch(/^done$/m);
  const engine = /embedded Temporal server on 127\.0\.0\.1:(\d+) \((\S+)\)/.exec(run.stderr);
  expect(engine, run.stderr).not.toBeNull();
  expect(existsSync(engine![2]!)).toBe(false);
  expect(await portOpen(Number(engine![1]))).toBe(false);
  return report;
}

describe('pgdr restore --standalone (break-glass: nothing but the bucket)', () => {
  let d: Disaster;
  let dir: string;
  const made: string[] = [];

  beforeAll(async () => {
    d = await disaster('glass');
    dir = mkdtempSync(join(tmpdir(), 'pgdr-glass-'));
    chmodSync(dir, 0o755);
  }, 300_000);
  afterAll(async () => {
    for (const m of made) if (d) await discardRestore({ layout: d.layout }, m);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restores the newest backup to a time in the middle, from the bucket alone', async () => {
    const config = storageConfig(dir, d);
    await restoresTheMiddle(d, config, dir, made);
  }, 400_000);

  it('Ctrl-C cancels the restore, which removes what it made, and takes the engine down', async () => {
    const dataDir = join(d.restoreDir, `break-glass-int-${Date.now()}`);
    made.push(dataDir);
    const child = execa(PGDR, ['restore', d.cluster, '--standalone', storageConfig(dir, d), '--latest', '--data-dir', dataDir], {
      cwd: dir,
      env: bareEnv(),
      extendEnv: false,
      reject: false,
      timeout: 360_000,
    });
    let err = '';
    let sent = false;
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      // Any step after the destination was prepared (a step may pass between two polls): interrupt there.
      if (!sent && /downloading and extracting|verifying the restored files|starting the instance|replaying WAL/.test(err)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const run = await child;
    expect(sent, err).toBe(true);
    expect(run.exitCode, err).toBe(4);
    expect(err).toContain('interrupted: cancelling the restore');
    expect(err).toMatch(/cancelled/);
    expect(existsSync(dataDir)).toBe(false);
    const engine = /embedded Temporal server on 127\.0\.0\.1:(\d+) \((\S+)\)/.exec(err);
    expect(existsSync(engine![2]!)).toBe(false);
    expect(await portOpen(Number(engine![1]))).toBe(false);
  }, 400_000);

  it('names the field, the value and the expected form of a bad storage config, before starting anything', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify({ cluster: d.cluster, storage: { ...d.storage, bucket: 'Not_A_Bucket' }, node: { binDir: 'relative' } }));
    const run = await breakGlass(dir, ['restore', d.cluster, '--standalone', bad, '--latest']);
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toMatch(/storage\.bucket: expected an S3 bucket name .*\(got "Not_A_Bucket"\)/);
    expect(run.stderr).toMatch(/node\.binDir: .*\(got "relative"\)/);
    expect(run.stderr).not.toMatch(/embedded Temporal server on/);
    const other = await breakGlass(dir, ['restore', 'someone-else', '--standalone', storageConfig(dir, d), '--latest']);
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toContain(`expected "${d.cluster}"`);
  }, 120_000);
});

describe('pgdr restore --standalone of an age-encrypted cluster, from its secondary repository', () => {
  let d: Disaster;
  let dir: string;
  let identityFile: string;
  const made: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-glass-enc-'));
    chmodSync(dir, 0o755);
    identityFile = join(dir, 'identity.key');
    await execa('age-keygen', ['-o', identityFile]);
    chmodSync(identityFile, 0o600);
    const ids = asUser('postgres');
    if (ids) chownSync(identityFile, ids.uid, ids.gid); // restore_command (the Postgres OS user) reads it
    const recipient = (await execa('age-keygen', ['-y', identityFile])).stdout.trim();
    // Encrypted, and from the secondary repository: the copy carries the age-encrypted bytes as they are.
    d = await disaster(
      'glassenc',
      (cl) => {
        cl.encryption = { recipients: [recipient], identities: [{ file: identityFile }] };
      },
      true,
    );
  }, 300_000);
  afterAll(async () => {
    for (const m of made) if (d) await discardRestore({ layout: d.layout }, m);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restores with the age identity named in the small config', async () => {
    const config = storageConfig(dir, d, { encryption: { identities: [{ file: identityFile }] } });
    await restoresTheMiddle(d, config, dir, made);
  }, 400_000);

  it('without the identity, fails and leaves no directory and no engine behind', async () => {
    const config = storageConfig(dir, d);
    const dataDir = join(d.restoreDir, `break-glass-noid-${Date.now()}`);
    made.push(dataDir);
    const run = await breakGlass(dir, ['restore', d.cluster, '--standalone', config, '--latest', '--data-dir', dataDir]);
    expect(run.exitCode, run.stderr).not.toBe(0);
    expect(run.stderr).toMatch(/identit/i);
    expect(existsSync(dataDir)).toBe(false);
    const engine = /embedded Temporal server on 127\.0\.0\.1:(\d+) \((\S+)\)/.exec(run.stderr);
    expect(engine, run.stderr).not.toBeNull();
    expect(existsSync(engine![2]!)).toBe(false);
  }, 400_000);
});
