/**
 * Restores stay on pgdr's own ground, against a real primary and streaming standby: the
 * reproductions of issue 15 (the shell injection through dataDir, the in-place restore of the
 * standby that forked the archive, replaceExisting over a directory that is not Postgres', other
 * spellings and nested paths of a node's directory, two restores into one directory).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { until } from '../helpers/stack.js';
import { replicatedCluster, type ReplicatedCluster } from '../helpers/replication.js';
import { runTool } from '../../adapters/gateway.js';
import { clusterPrefix } from '../../adapters/storage.js';
import type { RestoreReport } from '../../domain/restore.js';
import { destinationLockId } from '../../domain/naming.js';

let rc: ReplicatedCluster;
let restores: string;
const R = () => `/api/v1/clusters/${rc.tc.name}/restores`;

beforeAll(async () => {
  rc = await replicatedCluster('ground');
  restores = rc.tc.config.clusters[rc.tc.name]!.restore.dir;
  mkdirSync(restores, { recursive: true });
  await rc.sql('primary', 'create table kept (id int primary key); insert into kept select generate_series(1, 100);');
  const b = await rc.c.call('POST', `/api/v1/clusters/${rc.tc.name}/backups`, { type: 'full' });
  expect(b.status, JSON.stringify(b.body)).toBe(202);
  await rc.c.temporal.workflow.getHandle(b.body.workflowId).result();
  const seg = (await rc.sql('primary', 'insert into kept values (101); select pg_walfile_name(pg_switch_wal());'))
    .trim()
    .split('\n')
    .at(-1)!;
  await until(
    `segment ${seg} archived`,
    async () => (await rc.sql('primary', 'select last_archived_wal from pg_stat_archiver')).trim() >= seg,
    60_000,
  );
}, 300_000);

afterAll(async () => {
  await rc?.stop();
});

async function historyObjects(): Promise<string[]> {
  const prefix = `${clusterPrefix(rc.tc.config.storage, rc.tc.name)}wal/`;
  const res = await rc.c.s3.send(new ListObjectsV2Command({ Bucket: rc.tc.config.storage.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key!).filter((k) => /\.history/.test(k));
}

const inRecovery = async (node: string) => (await rc.sql(node, 'select pg_is_in_recovery()')).trim();

describe("restores stay on pgdr's own ground", () => {
  it('refuses the shell injection through dataDir with a 400 naming the field, and nothing runs it', async () => {
    const marker = `PWNED-ground-${process.pid}`;
    const res = await rc.c.call('POST', R(), {
      target: { immediate: true },
      destination: { dataDir: `/tmp/x/inj$(touch\${IFS}/tmp/${marker})` },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.fields[0].field).toBe('body.destination.dataDir');
    expect(res.body.error.message).toContain('it contains "$" "(" "{" "}" ")"');
    await new Promise((r) => setTimeout(r, 1000));
    expect(existsSync(`/tmp/${marker}`)).toBe(false);
  });

  it('refuses an in-place restore of the streaming standby, even confirmed: no second primary, no new history in the archive', async () => {
    const before = await historyObjects();
    const res = await rc.c.call('POST', R(), {
      target: { latest: true },
      destination: { node: 'replica', dataDir: rc.dataDir('replica') },
      replaceExisting: true,
      confirm: rc.tc.name,
      action: 'promote',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.error.code).toBe('RESTORE_PREFLIGHT_FAILED');
    expect(res.body.error.message).toContain(
      `destination replica:${rc.dataDir('replica')} is node replica's data directory and node replica is a standby (standby.signal)`,
    );
    expect(res.body.error.message).toContain('expected a replica rebuild');
    expect(await inRecovery('replica')).toBe('t');
    expect(existsSync(join(rc.dataDir('replica'), 'PG_VERSION'))).toBe(true);
    expect(await historyObjects()).toEqual(before);
  });

  it('never replaces a directory that is not a Postgres data directory, confirm or not', async () => {
    const dir = join(restores, 'etc-like');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n');
    const res = await rc.c.call('POST', R(), {
      target: { immediate: true },
      destination: { dataDir: dir },
      replaceExisting: true,
      confirm: rc.tc.name,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(422);
    expect(res.body.error.message).toContain(`destination primary:${dir} holds files but no Postgres data directory (no PG_VERSION)`);
    expect(readdirSync(dir).sort()).toEqual(['hosts', 'passwd']);
    expect(readFileSync(join(dir, 'passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(readdirSync(restores).filter((e) => e.includes('pgdr-old'))).toEqual([]);
  });

  it("recognises a node's directory by any spelling: a symlink to it, or a path inside it, and refuses it as that node's", async () => {
    const link = join(restores, 'link-to-replica');
    symlinkSync(rc.dataDir('replica'), link);
    const viaLink = await rc.c.call('POST', R(), {
      target: { immediate: true },
      destination: { dataDir: link },
      replaceExisting: true,
      confirm: rc.tc.name,
    });
    expect(viaLink.status, JSON.stringify(viaLink.body)).toBe(422);
    expect(viaLink.body.error.message).toContain(
      `destination primary:${link} is node replica's data directory ${rc.dataDir('replica')} (it resolves to ${rc.dataDir('replica')})`,
    );

    const nested = join(rc.dataDir('primary'), 'qa_nested_restore');
    const inside = await rc.c.call('POST', R(), { target: { immediate: true }, destination: { dataDir: nested } });
    expect(inside.status).toBe(422);
    expect(inside.body.error.message).toContain(
      `destination primary:${nested} lies inside node primary's data directory ${rc.dataDir('primary')}`,
    );

    const inWal = join(rc.dataDir('replica'), 'pg_wal', 'x');
    const walRes = await rc.c.call('POST', R(), { target: { immediate: true }, destination: { dataDir: inWal } });
    expect(walRes.status).toBe(422);
    expect(walRes.body.error.message).toContain(`lies inside node replica's data directory ${rc.dataDir('replica')}`);

    const outside = `/etc/pgdr-ground-${process.pid}`;
    const etc = await rc.c.call('POST', R(), { target: { immediate: true }, destination: { dataDir: outside } });
    expect(etc.status).toBe(422);
    expect(etc.body.error.message).toContain(`is outside pgdr's restore roots ${restores}`);

    expect(existsSync(nested)).toBe(false);
    expect(existsSync(inWal)).toBe(false);
    expect(existsSync(outside)).toBe(false);
    expect(await inRecovery('replica')).toBe('t');
    expect(await inRecovery('primary')).toBe('f');
  });

  it('answers a request into a directory another restore is writing with 409 naming that restore, not with what its writing looks like', async () => {
    // Another restore's state, as the second of two requests finds it under load: the directory
    // already holds its data (PG_VERSION) and its lock is held by a running workflow.
    const dir = join(restores, 'held');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'PG_VERSION'), '15\n');
    const holder = `pitrRestore/${rc.tc.name}/writing-${process.pid}`;
    const lock = await rc.c.temporal.workflow.start('clusterLock', {
      workflowId: destinationLockId(hostname(), realpathSync(dir)),
      taskQueue: rc.tc.config.temporal.taskQueue,
      args: [{ cluster: rc.tc.name, holder }],
      memo: { holder },
    });
    try {
      const busy = await rc.c.call('POST', R(), { target: { latest: true }, destination: { dataDir: dir } });
      expect(busy.status, JSON.stringify(busy.body)).toBe(409);
      expect(busy.body.error).toMatchObject({ code: 'DESTINATION_BUSY', runningWorkflowId: holder });
    } finally {
      await lock.terminate('test done');
    }
    // The lock free: the pre-flight's own answer, the directory is not empty.
    const refused = await rc.c.call('POST', R(), { target: { latest: true }, destination: { dataDir: dir } });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body.error.code).toBe('RESTORE_PREFLIGHT_FAILED');
    expect(refused.body.error.message).toContain('is not empty');
    expect(readdirSync(dir)).toEqual(['PG_VERSION']);
  });

  it('lets one restore at a time write into a directory: two at once get one 202 and one 409 naming the first', async () => {
    const dir = join(restores, 'twin');
    const body = { target: { latest: true }, destination: { dataDir: dir } };
    const [a, b] = await Promise.all([rc.c.call('POST', R(), body), rc.c.call('POST', R(), body)]);
    const statuses = [a.status, b.status].sort();
    expect(statuses, JSON.stringify([a.body, b.body])).toEqual([202, 409]);
    const [won, lost] = a.status === 202 ? [a, b] : [b, a];
    expect(lost.body.error).toMatchObject({ code: 'DESTINATION_BUSY', runningWorkflowId: won.body.workflowId });
    expect(lost.body.error.message).toContain(`is already being restored by ${won.body.workflowId}`);
    const report = (await rc.c.temporal.workflow.getHandle(won.body.workflowId).result()) as RestoreReport;
    expect(report.destination.dataDir).toBe(dir);
    expect(report.notes).toBeUndefined();
    try {
      const db = await rc.connect(report.destination.port);
      try {
        expect((await db.query('select count(*)::int as n from kept')).rows[0].n).toBe(101);
      } finally {
        await db.end();
      }
      // The copy does not archive: only the cluster's primary writes into the cluster's archive.
      expect(readFileSync(join(dir, 'postgresql.auto.conf'), 'utf8')).toContain("archive_mode = 'off'");
    } finally {
      await runTool({
        tool: 'pg_ctl',
        binDir: rc.layout.pgBin,
        args: ['-D', dir, '-m', 'immediate', '-w', 'stop'],
        osUser: rc.layout.pgUser,
      }).catch(() => undefined);
    }
  }, 240_000);
});
