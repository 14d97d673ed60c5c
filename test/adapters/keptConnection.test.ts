/**
 * A node agent probes its own server over one kept session (adapters/keptConnection.ts): many
 * probes cost one backend, not a TLS handshake, SCRAM and a fork each. A session that died is
 * replaced at the next probe, which still answers from the server; a statement the server refuses
 * leaves the session as it is; a server that is down fails the probe naming its address; closed,
 * the sessions end and probes connect as they did before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../../adapters/gateway.js';
import { testCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { openServer, probeNode } from '../../adapters/sql.js';
import { KeptConnection, KeptSessions } from '../../adapters/keptConnection.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { PostgresUnreachableError } from '../../domain/errors.js';

const APP = 'pgdr agent';

describe('kept sessions of a node agent', () => {
  let pgs: Awaited<ReturnType<typeof ownPostgres>>;
  let sessions: KeptSessions;
  let deps: Parameters<typeof probeNode>[0];
  let cluster: string;

  beforeAll(async () => {
    pgs = await ownPostgres();
    await pgs.start();
    const tc = testCluster('kept', (cl) => {
      cl.nodes = { primary: pgs.node };
    });
    cluster = tc.name;
    sessions = new KeptSessions();
    deps = { config: tc.config, readSecret: createSecretReader(), sessions };
  }, 120_000);
  afterAll(async () => {
    await sessions?.close();
    await pgs?.stop();
  });

  const backends = async () => Number((await pgs.sql(`select count(*) from pg_stat_activity where application_name = '${APP}'`)).trim());

  it('answers every probe over one session, the same as a probe on a connection of its own', async () => {
    const probes = await Promise.all(Array.from({ length: 10 }, () => probeNode(deps, cluster, 'primary')));
    const fresh = await probeNode({ config: deps.config, readSecret: deps.readSecret }, cluster, 'primary');
    expect(await backends()).toBe(1);
    for (const p of probes) {
      expect(p).toMatchObject({ node: 'primary', role: 'primary', systemIdentifier: fresh.systemIdentifier, timeline: fresh.timeline });
      expect(p.currentLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(p.archiver.archivedCount).toBe(fresh.archiver.archivedCount);
    }
  });

  it('replaces a session whose backend was terminated, and the probe still answers', async () => {
    await probeNode(deps, cluster, 'primary');
    const before = (await pgs.sql(`select pid from pg_stat_activity where application_name = '${APP}'`)).trim();
    await pgs.sql(`select pg_terminate_backend(${before})`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await probeNode(deps, cluster, 'primary')).toMatchObject({ role: 'primary' });
    const after = (await pgs.sql(`select pid from pg_stat_activity where application_name = '${APP}'`)).trim();
    expect(after).toMatch(/^\d+$/);
    expect(after).not.toBe(before);
  });

  it('keeps its session when the server refuses a statement', async () => {
    const cc = deps.config.clusters[cluster]!;
    const kept = new KeptConnection(() =>
      openServer(deps, cluster, 'primary', { host: pgs.node.host, port: pgs.node.port, node: 'primary' }, undefined, {
        applicationName: 'pgdr kept test',
        queryTimeoutMs: cc.connectTimeoutSeconds * 1000,
      }),
    );
    try {
      const pid = (await kept.firstRow('select pg_backend_pid() as pid')).pid;
      await expect(kept.results('select 1/0')).rejects.toMatchObject({ code: '22012' });
      expect((await kept.firstRow('select pg_backend_pid() as pid')).pid).toBe(pid);
      // Two statements, one round trip: one result each.
      const both = await kept.results('select 1 as a; select 2 as b');
      expect(both.map((r) => r.rows[0])).toEqual([{ a: 1 }, { b: 2 }]);
    } finally {
      await kept.close();
    }
    await expect(kept.results('select 1')).rejects.toThrow(/closed/);
  });

  it('fails a probe naming the address while the server is down, and answers again once it is back', async () => {
    await probeNode(deps, cluster, 'primary');
    // Stopped in place (pgs.stop() would remove it); pgs.start() starts it again.
    await runTool({
      tool: 'pg_ctl',
      binDir: pgs.node.binDir,
      args: ['-D', pgs.dataDir, '-m', 'fast', '-w', 'stop'],
      osUser: pgs.node.osUser,
    });
    const down = await probeNode(deps, cluster, 'primary').catch((e: unknown) => e);
    expect(down).toBeInstanceOf(PostgresUnreachableError);
    expect((down as Error).message).toContain(`127.0.0.1:${pgs.port}`);
    await pgs.start();
    expect(await probeNode(deps, cluster, 'primary')).toMatchObject({ role: 'primary' });
    expect(await backends()).toBe(1);
  });

  it('ends its sessions when closed; later probes connect on their own', async () => {
    await sessions.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(await backends()).toBe(0);
    expect(await probeNode(deps, cluster, 'primary')).toMatchObject({ role: 'primary' });
    expect(await backends()).toBe(0);
  });
});
