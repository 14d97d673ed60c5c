/**
 * The agent remembers what each tool's `--version` printed, by the file's identity: a warm
 * agent's backup does not spawn them again, and a replaced binary (a package upgrade) is asked
 * again. Real executables in a scratch binDir; no server needed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startToolCheck, toolVersionOutputs } from '../../activities/steps/versions.js';
import type { PostgresDeps } from '../../adapters/sql.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A binDir whose pg_ctl and pg_basebackup print `version` and count their runs in runs.log. */
function binDir(version: string): { dir: string; deps: PostgresDeps; runs: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-versions-'));
  dirs.push(dir);
  for (const tool of ['pg_ctl', 'pg_basebackup']) writeTool(dir, tool, version);
  const deps = { config: { clusters: { c: { nodes: { n: { binDir: dir } } } } } } as unknown as PostgresDeps;
  const runs = () => {
    try {
      return readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  };
  return { dir, deps, runs };
}

/** Replaces the tool as a package upgrade does: a new file renamed over the old one. */
function writeTool(dir: string, tool: string, version: string): void {
  const tmp = join(dir, `.${tool}.new`);
  writeFileSync(tmp, `#!/bin/sh\necho ${tool} >> '${join(dir, 'runs.log')}'\necho "${tool} (PostgreSQL) ${version}"\n`);
  chmodSync(tmp, 0o755);
  renameSync(tmp, join(dir, tool));
}

describe('tool versions on a warm agent', () => {
  it('runs each tool once, and answers again from what it printed while the file is the same', async () => {
    const { deps, runs, dir } = binDir('15.8');
    const first = await toolVersionOutputs(deps, 'c', 'n', ['pg_ctl', 'pg_basebackup']);
    expect(first).toEqual([
      { tool: `pg_ctl in ${dir}`, output: 'pg_ctl (PostgreSQL) 15.8' },
      { tool: `pg_basebackup in ${dir}`, output: 'pg_basebackup (PostgreSQL) 15.8' },
    ]);
    expect(runs().sort()).toEqual(['pg_basebackup', 'pg_ctl']);
    expect(await toolVersionOutputs(deps, 'c', 'n', ['pg_ctl', 'pg_basebackup'])).toEqual(first);
    expect(runs()).toHaveLength(2);
  });

  it('asks a replaced binary again, and refuses it when it is of another major', async () => {
    const { deps, runs, dir } = binDir('15.8');
    const against = { label: 'the server of node "n"', versionNum: 150008 };
    await expect(startToolCheck(deps, { cluster: 'c', node: 'n', work: 'backup' })(against)).resolves.toMatchObject({ major: 15 });
    writeTool(dir, 'pg_basebackup', '16.4');
    await expect(startToolCheck(deps, { cluster: 'c', node: 'n', work: 'backup' })(against)).rejects.toThrow(
      `pg_basebackup in ${dir} on node "n" of cluster "c" is PostgreSQL 16.4, but the server of node "n" is PostgreSQL 15.8`,
    );
    // pg_ctl was not replaced: it ran once; pg_basebackup ran for each file it was.
    expect(runs().filter((r) => r === 'pg_ctl')).toHaveLength(1);
    expect(runs().filter((r) => r === 'pg_basebackup')).toHaveLength(2);
  });

  it('asks a tool that leads to a wrapper of another name every time (Debian pg_wrapper picks a major at each run)', async () => {
    const { deps, runs, dir } = binDir('15.8');
    writeTool(dir, 'wrapper', '15.8');
    rmSync(join(dir, 'pg_basebackup'));
    symlinkSync(join(dir, 'wrapper'), join(dir, 'pg_basebackup'));
    for (let i = 0; i < 3; i++) await toolVersionOutputs(deps, 'c', 'n', ['pg_ctl', 'pg_basebackup']);
    expect(runs().filter((r) => r === 'wrapper')).toHaveLength(3);
    expect(runs().filter((r) => r === 'pg_ctl')).toHaveLength(1);
  });

  it('answers the failure of a tool that cannot run when the check is asked, not before', async () => {
    const { deps, dir } = binDir('15.8');
    rmSync(join(dir, 'pg_basebackup'));
    const check = startToolCheck(deps, { cluster: 'c', node: 'n', work: 'backup' });
    // Nothing asked yet: no unhandled rejection while the server read would run.
    await new Promise((r) => setTimeout(r, 200));
    await expect(check({ label: 'the server of node "n"', versionNum: 150008 })).rejects.toThrow(/pg_basebackup/);
  });
});
