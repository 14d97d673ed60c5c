/**
 * Starting a server on a real host: under load on both cores a starting server is judged
 * running (never dead for a postmaster.pid not yet written), and a server that cannot bind its
 * port fails with PortUnavailableError naming the port, not with a recovery error. A restored
 * instance given a taken port moves to a free one of the range when pgdr chose its port.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ownPostgres } from '../helpers/postgres.js';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { cpuBurners, type Burners } from '../helpers/load.js';
import { runTool } from '../../adapters/gateway.js';
import { startRestoredInstance, type RestoreDeps } from '../../activities/steps/restore.js';
import { runningPid } from '../../adapters/pgHost.js';
import { startPostgres } from '../../adapters/serverStart.js';
import { PortUnavailableError } from '../../domain/errors.js';

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

describe('starting a server', () => {
  let pgs: Awaited<ReturnType<typeof ownPostgres>>;
  let tc: TestCluster;
  let burn: Burners | undefined;
  let listener: Server | undefined;
  let autoConf: string;
  const stop = () =>
    runTool({ tool: 'pg_ctl', binDir: pgs.layout.pgBin, args: ['-D', pgs.dataDir, '-m', 'fast', '-w', 'stop'], osUser: pgs.layout.pgUser });
  const start = () =>
    startPostgres({
      node: 'primary',
      binDir: pgs.layout.pgBin,
      dataDir: pgs.dataDir,
      osUser: pgs.layout.pgUser,
      logFile: join(pgs.dataDir, 'pgdr-server.log'),
      port: pgs.port,
    });

  beforeAll(async () => {
    pgs = await ownPostgres();
    await pgs.start();
    await stop();
    autoConf = readFileSync(join(pgs.dataDir, 'postgresql.auto.conf'), 'utf8');
    tc = testCluster('start', (cl) => (cl.nodes = { primary: pgs.node }));
  }, 120_000);
  afterEach(async () => {
    burn?.stop();
    burn = undefined;
    listener?.close();
    listener = undefined;
    if (runningPid(pgs.dataDir) !== null) await stop();
    writeFileSync(join(pgs.dataDir, 'postgresql.auto.conf'), autoConf);
  });
  afterAll(async () => {
    burn?.stop();
    await pgs?.stop();
  });

  it('judges a server started while both cores are busy running, five starts out of five', async () => {
    burn = cpuBurners(2);
    for (let i = 0; i < 5; i++) {
      const out = await start();
      expect(out.state).toBe('running');
      expect(runningPid(pgs.dataDir)).toBe((out as { pid: number }).pid);
      expect(await pgs.sql('select 1')).toBe('1');
      await stop();
    }
  });

  it('fails with PortUnavailableError naming the port when another process listens on it', async () => {
    listener = await listen(pgs.port);
    const err = await start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PortUnavailableError);
    expect((err as PortUnavailableError).code).toBe('PORT_UNAVAILABLE');
    expect((err as PortUnavailableError).context.port).toBe(pgs.port);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^port ${pgs.port} on node "primary" is not available to the server in ${pgs.dataDir}: .*(could not create any TCP/IP sockets|Address already in use)`,
      ),
    );
    expect(runningPid(pgs.dataDir)).toBeNull();
  });

  it('starts a restored instance on a taken port: PortUnavailableError when the port was asked for, a free port of the range when pgdr chose it', async () => {
    const deps = { config: tc.config } as RestoreDeps;
    const range = tc.config.clusters[tc.name]!.restore;
    const marker = 'pgdr restore test/start';
    appendFileSync(join(pgs.dataDir, 'postgresql.auto.conf'), `# ${marker}\nport = ${pgs.port}\n`);
    listener = await listen(pgs.port);
    const where = { cluster: tc.name, node: 'primary', dataDir: pgs.dataDir, marker };

    const err = await startRestoredInstance(deps, { ...where, autoPort: false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PortUnavailableError);
    expect((err as Error).message).toContain(`port ${pgs.port} on node "primary"`);

    const started = await startRestoredInstance(deps, { ...where, autoPort: true });
    expect(started.port).toBeGreaterThanOrEqual(range.portFrom);
    expect(started.port).toBeLessThanOrEqual(range.portTo);
    expect(started.pid).toBe(runningPid(pgs.dataDir));
    expect(await pgs.sqlAt(started.port, 'show port')).toBe(String(started.port));
  });
});
