/**
 * The npm package as a host gets it: `npm pack` (prepack builds dist/), then `npm install -g`
 * of the tarball into a scratch prefix, and the installed programs run from there against the
 * test stack: the CLI, the worker (compiled, with its prebuilt workflow bundle, serving a real
 * status) and the archive program pushing a real WAL file to MinIO. No tsx is installed.
 */
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { repoRoot } from '../../scripts/stack/layout.js';
import { clients, testCluster, type TestCluster } from '../helpers/cluster.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { walFolder } from '../../adapters/catalogStore.js';

describe('the npm package, installed', () => {
  let dir: string;
  let tarball: string;
  let prefix: string;
  let tc: TestCluster;
  const installed = () => join(prefix, 'lib', 'node_modules', 'pgdr');
  // The installed programs alone: no checkout, no node_modules/.bin of ours on PATH.
  const env = () => ({
    PATH: `${join(prefix, 'bin')}:${process.env
      .PATH!.split(':')
      .filter((p) => !p.includes(repoRoot))
      .join(':')}`,
  });
  const run = (bin: string, args: string[]) =>
    execa(join(prefix, 'bin', bin), args, {
      reject: false,
      cwd: dir,
      env: { ...env(), NODE_EXTRA_CA_CERTS: inject('caCert') },
      extendEnv: true,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-pkg-'));
    prefix = join(dir, 'prefix');
    const pack = await execa('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: repoRoot });
    tarball = join(dir, pack.stdout.trim().split('\n').pop()!);
    // The registry is reachable; the local cache is used first.
    await execa('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], {
      cwd: dir,
    });
    tc = testCluster('pkg');
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('packs the compiled build, the launchers, the unit templates and the README, and no sources', async () => {
    const files = (await execa('tar', ['tzf', tarball])).stdout.split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'dist/cli.js',
      'dist/worker.js',
      'dist/api.js',
      'dist/pgdr-wal.mjs',
      'dist/wal-prepare-thread.mjs',
      'dist/workflow-bundle.js',
      'bin/pgdr',
      'bin/pgdr-worker',
      'bin/pgdr-api',
      'bin/pgdr-wal',
      'bin/pgdr-archive',
      'bin/pgdr-restore',
      'packaging/systemd/pgdr-agent@.service',
      'packaging/systemd/pgdr-control.service',
      'packaging/systemd/pgdr-api.service',
      'README.md',
      'package.json',
    ]) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /\.ts$|^\.pgdr-stack|^node_modules\/|^test\//.test(f))).toEqual([]);
  });

  it('installs the six programs, without tsx', () => {
    expect(readdirSync(join(prefix, 'bin')).sort()).toEqual([
      'pgdr',
      'pgdr-api',
      'pgdr-archive',
      'pgdr-restore',
      'pgdr-wal',
      'pgdr-worker',
    ]);
    expect(existsSync(join(installed(), 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(installed(), 'node_modules', 'esbuild'))).toBe(false);
  });

  it('pgdr --version and pgdr-worker --help answer from the installed copy', async () => {
    const version = await run('pgdr', ['--version']);
    expect({ code: version.exitCode, out: version.stdout, err: version.stderr }).toEqual({ code: 0, out: '0.1.0', err: '' });
    const help = await run('pgdr-worker', ['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('usage: pgdr-worker [--config PATH] [--role all|control|agent]');
    const bad = await run('pgdr-worker', ['--role']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain("Option '--role <value>' argument missing");
  });

  it('pushes a real WAL file to the archive with the installed pgdr wal push and pgdr-wal push', async () => {
    const s3 = createS3Client(tc.config.storage, createSecretReader());
    for (const [bin, args, name] of [
      ['pgdr', ['wal', 'push'], '000000010000000000000011'],
      ['pgdr-wal', ['push'], '000000010000000000000012'],
    ] as const) {
      const content = randomBytes(256 * 1024);
      writeFileSync(join(dir, name), content);
      const r = await run(bin, [...args, '--config', tc.configPath, '--cluster', tc.name, join(dir, name)]);
      expect({ bin, code: r.exitCode, err: r.stderr }).toEqual({ bin, code: 0, err: '' });
      const head = await s3.send(
        new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: `${walFolder(tc.config.storage, tc.name)}${name}.zst` }),
      );
      expect(head.Metadata?.sha256).toBe(createHash('sha256').update(content).digest('hex'));
    }
  });

  it('runs the compiled worker on its prebuilt workflow bundle, and it serves a real cluster status', async () => {
    let worker: ResultPromise | undefined;
    try {
      worker = execa(join(prefix, 'bin', 'pgdr-worker'), ['--config', tc.configPath], {
        cwd: dir,
        env: { ...env(), NODE_EXTRA_CA_CERTS: inject('caCert') },
        reject: false,
        all: true,
      });
      let log = '';
      worker.all!.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 90_000;
      while (!log.includes('pgdr worker polling') && worker.exitCode === null && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(log).toContain(`workflow code: prebuilt bundle ${join(installed(), 'dist', 'workflow-bundle.js')}`);
      expect(log).toContain('pgdr worker polling');

      const { call } = await clients(tc);
      const status = await call('GET', `/api/v1/clusters/${tc.name}/status`);
      expect(status.status).toBe(200);
      // Every node answered through its agent in the installed worker, and the primary was found.
      expect(status.body.nodes.map((n: any) => [n.node, n.reachable, n.error])).toEqual(
        Object.keys(tc.config.clusters[tc.name]!.nodes).map((n) => [n, true, undefined]),
      );
      expect(status.body.primary).not.toBeNull();
    } finally {
      worker?.kill('SIGTERM');
      await worker;
    }
  });
});
