/**
 * The dev stack and the restored copies its restores leave running: `stack status` lists them
 * and `stack down` stops them, and only them. Real Postgres servers (initdb'd, run as the
 * Postgres OS user) in a stack directory of the test's own, one carrying a restore's marker
 * (a copy, here inside the "node's" data directory as the issue found one) and one without (a
 * node): the node keeps running.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { asUser, runTool } from '../../../adapters/gateway.js';
import { runningPid } from '../../../adapters/pgHost.js';
import { restoreMarker } from '../../../domain/restoredCopy.js';
import { repoRoot, stackLayout } from '../../../scripts/stack/layout.js';
import { freePort } from '../../../scripts/stack/procs.js';
import { liveRestoredCopies } from '../../../scripts/stack/copies.js';
import { stackDown } from '../../../scripts/stack/main.js';

const WF = 'pitrRestore/demo/2026-11-30T12-00-00-000Z';

describe('dev stack: restored copies', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-stack-copies-'));
  chmodSync(dir, 0o755);
  // Port offset far from every engineer's stack: nothing of this stack runs but Postgres.
  const layout = stackLayout({ PGDR_STACK_DIR: dir, PGDR_PORT_OFFSET: '10100' });
  const ids = asUser(layout.pgUser);
  // Not the demo cluster's directory (down stops that one anyway): a test server's, as ownPostgres makes.
  const node = { dataDir: join(dir, 'pg', 'own-1', 'primary'), port: 0 };
  const copy = { dataDir: join(node.dataDir, 'restores', 'demo-20261130T120000000Z'), port: 0 };
  // Sockets and logs of the test's servers: a directory the Postgres OS user may write.
  const run = join(dir, 'run');
  const pgCtl = (dataDir: string, args: string[]) =>
    runTool({ tool: 'pg_ctl', binDir: layout.pgBin, args: ['-D', dataDir, ...args], osUser: layout.pgUser });

  async function server(s: { dataDir: string; port: number }, marker: string | null): Promise<void> {
    mkdirSync(dirname(s.dataDir), { recursive: true, mode: 0o755 });
    mkdirSync(s.dataDir, { mode: 0o700 });
    if (ids) chownSync(s.dataDir, ids.uid, ids.gid);
    await runTool({
      tool: 'initdb',
      binDir: layout.pgBin,
      args: ['-D', s.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync'],
      osUser: layout.pgUser,
    });
    s.port = await freePort();
    const lines = [`listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${run}'`, `shared_buffers = 8MB`];
    // The restore's block, as writeRecoverySettings writes it (marker line first).
    appendFileSync(
      join(s.dataDir, 'postgresql.auto.conf'),
      [...(marker ? [`# ${marker}`] : []), `port = ${s.port}`, ...lines, ''].join('\n'),
    );
    await pgCtl(s.dataDir, ['-l', join(run, `${s.port}.log`), '-w', 'start']);
  }

  beforeAll(async () => {
    mkdirSync(run, { mode: 0o755 });
    if (ids) chownSync(run, ids.uid, ids.gid);
    await server(node, null);
    await server(copy, restoreMarker(WF));
  }, 120_000);

  afterAll(async () => {
    for (const s of [copy, node]) if (runningPid(s.dataDir) !== null) await pgCtl(s.dataDir, ['-m', 'immediate', '-w', 'stop']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('status lists the running copy with its port and restore, never the node without a marker', async () => {
    expect(liveRestoredCopies(layout)).toEqual([{ dataDir: copy.dataDir, pid: runningPid(copy.dataDir), port: copy.port, workflowId: WF }]);
    const out = await execa(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'scripts/stack/main.ts'), 'status'], {
      env: { PGDR_STACK_DIR: dir, PGDR_PORT_OFFSET: '10100' },
      reject: false,
    });
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout).toContain(`copy         up ${copy.dataDir} port ${copy.port} pid ${runningPid(copy.dataDir)} (${WF})`);
    expect(out.stdout).not.toContain(`up ${node.dataDir} `);
  });

  it('down stops the copy (fast) and leaves a server without the marker alone', async () => {
    await stackDown(layout);
    expect(runningPid(copy.dataDir)).toBeNull();
    expect(existsSync(join(copy.dataDir, 'PG_VERSION'))).toBe(true);
    expect(runningPid(node.dataDir)).not.toBeNull();
    expect(liveRestoredCopies(layout)).toEqual([]);
  });
});
