/**
 * What the dev stack leaves on disk for other users to read: daemon logs only for their
 * owner, an API log without query strings, and a Postgres-owned passfile that holds the pgdr
 * role's password for replication connections to the cluster's own nodes, never the superuser's.
 */
import { describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { asUser } from '../../adapters/gateway.js';
import { demoClusterPlan, NO_ARCHIVE_COMMANDS, replicationPassfile, slotFor, stackPgSsl } from '../../scripts/stack/postgres.js';
import { stackLayout } from '../../scripts/stack/layout.js';
import { api, until } from '../helpers/stack.js';
import { stackSecrets } from '../security/helpers.js';

const layout = () => stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });

describe('dev stack files', () => {
  it('keeps the API, worker, Temporal and MinIO logs mode 0600', () => {
    for (const name of ['api.log', 'worker.log', 'temporal.log', 'minio.log']) {
      expect((statSync(join(layout().logs, name)).mode & 0o777).toString(8), name).toBe('600');
    }
  });

  it('logs API requests by path, never with their query string', async () => {
    // A path of its own to find this request in the log; a query value that must not be there.
    const marker = `nosuch${randomBytes(4).toString('hex')}`;
    const secret = randomBytes(12).toString('hex');
    const res = await api('GET', `/api/v1/clusters/${marker}/status?token=${secret}`);
    expect(res.status).toBe(400);
    const log = join(layout().logs, 'api.log');
    const lines = await until(
      'the request in api.log',
      async () => {
        const found = readFileSync(log, 'utf8')
          .split('\n')
          .filter((l) => l.includes(marker));
        return found.length > 0 ? found : undefined;
      },
      10_000,
    );
    expect(lines.some((l) => JSON.parse(l).req?.path === `/api/v1/clusters/${marker}/status`)).toBe(true);
    expect(readFileSync(log, 'utf8')).not.toContain(secret);
  });

  it("writes a passfile with only the pgdr role's password, for replication connections to each node of the cluster", () => {
    const l = layout();
    const plan = demoClusterPlan(l, NO_ARCHIVE_COMMANDS);
    const secrets = stackSecrets();
    const text = readFileSync(plan.passfile, 'utf8');
    expect(text).toBe(
      [plan.primary, ...plan.standbys].map((n) => `127.0.0.1:${n.port}:replication:pgdr:${secrets['pgdr-password']}\n`).join(''),
    );
    expect(text).not.toContain(secrets['pg-superuser-password']);
    const st = statSync(plan.passfile);
    expect((st.mode & 0o777).toString(8)).toBe('600');
    expect(st.uid).toBe(asUser(l.pgUser)?.uid ?? process.getuid!());
  });

  it('escapes ":" and "\\" of a password in the passfile', () => {
    const plan = demoClusterPlan(layout(), NO_ARCHIVE_COMMANDS);
    expect(replicationPassfile({ ...plan, standbys: [] }, 'a:b\\c')).toBe(`127.0.0.1:${plan.primary.port}:replication:pgdr:a\\:b\\\\c\n`);
  });

  it('lets the demo standby reconnect with that passfile alone after its walsender is killed', async () => {
    const plan = demoClusterPlan(layout(), NO_ARCHIVE_COMMANDS);
    const client = new pg.Client({
      host: '127.0.0.1',
      port: plan.primary.port,
      user: 'postgres',
      database: 'postgres',
      password: stackSecrets()['pg-superuser-password'],
      ssl: stackPgSsl(layout()),
    });
    await client.connect();
    try {
      const slot = slotFor(plan, plan.standbys[0]!);
      const streaming = async () =>
        (
          await client.query<{ pid: number }>(
            `select r.pid from pg_stat_replication r join pg_replication_slots s on s.active_pid = r.pid where s.slot_name = $1 and r.state = 'streaming'`,
            [slot],
          )
        ).rows[0]?.pid;
      const before = await until('the demo standby streaming', streaming, 30_000);
      await client.query('select pg_terminate_backend($1)', [before]);
      // The walreceiver reconnects (wal_retrieve_retry_interval, 5 s) and authenticates with the passfile.
      const after = await until(
        'the demo standby streaming again',
        async () => {
          const pid = await streaming();
          return pid && pid !== before ? pid : undefined;
        },
        60_000,
      );
      expect(after).not.toBe(before);
    } finally {
      await client.end();
    }
  });
});
