/**
 * A node agent's role endpoint reads its server over one kept connection: many checks cost one
 * session, not a TLS handshake and a backend each. A kept connection that died (terminated, the
 * server restarted) is replaced at the next check, which still answers from the server; a server
 * that is down answers 503 naming why.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool } from '../../adapters/gateway.js';
import { testCluster } from '../helpers/cluster.js';
import { ownPostgres } from '../helpers/postgres.js';
import { freePort } from '../../scripts/stack/procs.js';
import { startRoleEndpoint, type RoleEndpoint } from '../../adapters/roleEndpoints.js';
import { createSecretReader } from '../../adapters/secrets.js';

const APP = 'pgdr role endpoint';

describe('role endpoint', () => {
  let pgs: Awaited<ReturnType<typeof ownPostgres>>;
  let endpoint: RoleEndpoint | undefined;
  let url: string;

  beforeAll(async () => {
    pgs = await ownPostgres();
    await pgs.start();
    const healthPort = await freePort();
    const tc = testCluster('role', (cl) => {
      cl.nodes = { primary: { ...pgs.node, healthPort } };
    });
    endpoint = await startRoleEndpoint({ config: tc.config, cluster: tc.name, node: 'primary', readSecret: createSecretReader() });
    url = `http://${endpoint.address}/primary`;
  }, 120_000);
  afterAll(async () => {
    await endpoint?.stop();
    await pgs?.stop();
  });

  const check = async () => {
    const res = await fetch(url);
    return { status: res.status, body: (await res.json()) as { ok: boolean; role: string; why?: string } };
  };
  const sessions = async () => Number((await pgs.sql(`select count(*) from pg_stat_activity where application_name = '${APP}'`)).trim());

  it('answers every check over one kept session, and replaces it when it dies', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => check()));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers[0]!.body).toMatchObject({ ok: true, role: 'primary' });
    expect(await sessions()).toBe(1);

    // Its backend terminated while idle: the next check answers from the server on a new session.
    await pgs.sql(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = '${APP}'`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await check()).toMatchObject({ status: 200, body: { ok: true, role: 'primary' } });
    expect(await sessions()).toBe(1);
  });

  it('answers 503 naming why while the server is down, and 200 again once it is back', async () => {
    // Stopped in place (pgs.stop() would remove it); pgs.start() starts it again.
    await runTool({
      tool: 'pg_ctl',
      binDir: pgs.node.binDir,
      args: ['-D', pgs.dataDir, '-m', 'fast', '-w', 'stop'],
      osUser: pgs.node.osUser,
    });
    const down = await check();
    expect(down.status).toBe(503);
    expect(down.body.ok).toBe(false);
    expect(down.body.why).toMatch(/ECONNREFUSED|connect/i);
    await pgs.start();
    expect(await check()).toMatchObject({ status: 200, body: { ok: true, role: 'primary' } });
    expect(await sessions()).toBe(1);
  });

  it('ends its session when it stops', async () => {
    await endpoint!.stop();
    endpoint = undefined;
    await new Promise((r) => setTimeout(r, 300));
    expect(await sessions()).toBe(0);
  });
});
