/**
 * PostgreSQL tool versions against the server's and the backup's, with a real server (15) and
 * real checks: a node's binDir holds the real tools, except a `pg_ctl` that says it is 16.4
 * (and otherwise runs the real one). A backup from that node and a restore (dry run and real)
 * onto it are refused naming both versions, and nothing is created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clients, startWorkers, testCluster, type TestCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { freePort } from '../../scripts/stack/procs.js';
import { clusterPrefix, listKeys } from '../../adapters/storage.js';
import { formatVersionNum } from '../../domain/pgVersions.js';
import type { BackupManifest } from '../../domain/catalog.js';
import { rootMessage } from '../../workflows/probe.js';
import { switchAndArchive } from '../helpers/ticks.js';

describe('PostgreSQL tool versions', () => {
  let pgs: Awaited<ReturnType<typeof ownPostgres>>;
  let wrapperBin: string;
  let serverVersion: string;
  const started: { stop(): Promise<void> }[] = [];
  const opened: { close(): Promise<void> }[] = [];

  const up = async (tc: TestCluster) => {
    started.push(await startWorkers(tc));
    const c = await clients(tc);
    opened.push(c);
    return c;
  };

  beforeAll(async () => {
    pgs = await ownPostgres();
    await pgs.start();
    serverVersion = formatVersionNum(Number((await pgs.sql('show server_version_num')).trim()));
    // The real tools, but a pg_ctl of another major (which still runs the real one for anything but --version).
    wrapperBin = join(pgs.layout.dir, 'pg', `own-${pgs.port}`, 'bin16');
    mkdirSync(wrapperBin, { recursive: true });
    for (const tool of readdirSync(pgs.layout.pgBin))
      if (tool !== 'pg_ctl') symlinkSync(join(pgs.layout.pgBin, tool), join(wrapperBin, tool));
    writeFileSync(
      join(wrapperBin, 'pg_ctl'),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "pg_ctl (PostgreSQL) 16.4"; exit 0; fi\nexec ${join(pgs.layout.pgBin, 'pg_ctl')} "$@"\n`,
    );
    chmodSync(join(wrapperBin, 'pg_ctl'), 0o755);
  }, 120_000);
  afterAll(async () => {
    for (const w of started) await w.stop();
    for (const c of opened) await c.close();
    await pgs?.stop();
  });

  it('refuses a backup from a node whose tools are of another major, naming both versions; nothing is stored', async () => {
    const tc = testCluster('pgv16', (cl) => (cl.nodes = { primary: { ...pgs.node, binDir: wrapperBin } }));
    const c = await up(tc);
    const res = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    expect(res.status).toBe(202);
    const err = await c.temporal.workflow
      .getHandle(res.body.workflowId)
      .result()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).not.toBeNull();
    expect(rootMessage(err)).toBe(
      `pg_ctl in ${wrapperBin} on node "primary" of cluster "${tc.name}" is PostgreSQL 16.4, but the server of node "primary" is PostgreSQL ${serverVersion}: ` +
        `the tools must be of the same major version (15); nothing was created\n` +
        `HINT: point the node's binDir at the PostgreSQL 15 tools (Debian: /usr/lib/postgresql/15/bin)`,
    );
    expect(await listKeys(c.s3, tc.config.storage.bucket, clusterPrefix(tc.config.storage, tc.name))).toEqual([]);
  });

  it('refuses a restore onto a node whose tools are not of the backup’s major, in the dry run and for real; nothing is created', async () => {
    const restoreDir = join(pgs.layout.dir, 'pg', `own-${pgs.port}`, 'restores');
    const copyPort = await freePort();
    const tc = testCluster('pgvrestore', (cl) => {
      cl.nodes = {
        primary: pgs.node,
        // Another host in production; here a node with no server of its own, only tools.
        copyhost: {
          ...pgs.node,
          port: copyPort,
          binDir: wrapperBin,
          dataDir: join(pgs.layout.dir, 'pg', `own-${pgs.port}`, 'copyhost-data'),
        },
      };
      cl.restore = { ...cl.restore, dir: restoreDir };
    });
    const c = await up(tc);
    const en = await c.call('POST', `/api/v1/clusters/${tc.name}/archive/enable`, {});
    await c.temporal.workflow.getHandle(en.body.workflowId).result();
    const b = await c.call('POST', `/api/v1/clusters/${tc.name}/backups`, { type: 'full' });
    const manifest = (await c.temporal.workflow.getHandle(b.body.workflowId).result()).manifest as BackupManifest;
    const db = await pgs.connect();
    await switchAndArchive(db).finally(() => db.end());
    expect(formatVersionNum(manifest.pgVersion)).toBe(serverVersion);

    const dataDir = join(restoreDir, 'r-version');
    const body = { target: { latest: true }, destination: { node: 'copyhost', dataDir } };
    const expected =
      `pg_ctl in ${wrapperBin} on node "copyhost" of cluster "${tc.name}" is PostgreSQL 16.4, but backup ${manifest.id} is PostgreSQL ${serverVersion}: ` +
      `the tools must be of the same major version (15); nothing was created`;
    const dry = await c.call('POST', `/api/v1/clusters/${tc.name}/restores?dryRun=true`, body);
    expect(dry.status, JSON.stringify(dry.body)).toBe(422);
    expect(dry.body.error.code).toBe('PG_VERSION_MISMATCH');
    expect(dry.body.error.message).toContain(expected);
    const real = await c.call('POST', `/api/v1/clusters/${tc.name}/restores`, body);
    expect(real.status, JSON.stringify(real.body)).toBe(422);
    expect(real.body.error.code).toBe('PG_VERSION_MISMATCH');
    expect(real.body.error.message).toContain(expected);
    expect(existsSync(dataDir)).toBe(false);
    expect((await c.call('GET', `/api/v1/clusters/${tc.name}/restores`)).body.restores).toEqual([]);

    // The same request onto the node with the real tools passes the same pre-flight.
    const fine = await c.call('POST', `/api/v1/clusters/${tc.name}/restores?dryRun=true`, {
      ...body,
      destination: { node: 'primary', dataDir: join(restoreDir, 'r-fine') },
    });
    expect(fine.status, JSON.stringify(fine.body)).toBe(200);
    expect(fine.body.backupId).toBe(manifest.id);
  });
});
