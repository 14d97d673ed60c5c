/**
 * The supported runtime (scripts/node-runtime.sh): pgdr's code runs on Node >= 22 whatever Node
 * started npm, and the launcher Postgres runs as the postgres user finds the same runtime.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../scripts/stack/layout.js';

const PINNED = /^PGDR_NODE_VERSION="([\d.]+)"$/m;
const pinned = PINNED.exec(execFileSync('cat', [join(repoRoot, 'scripts/node-runtime.sh')], { encoding: 'utf8' }))![1]!;
const scratch = mkdtempSync(join(tmpdir(), 'pgdr-node-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `node --version` after sourcing the runtime script with PATH as given. */
function nodeAfterRuntime(path: string): string {
  return execFileSync('bash', ['-c', 'source scripts/node-runtime.sh && node --version && command -v node'], {
    cwd: repoRoot,
    env: { PATH: path, HOME: process.env.HOME!, ...(process.env.PGDR_TOOLS_DIR ? { PGDR_TOOLS_DIR: process.env.PGDR_TOOLS_DIR } : {}) },
    encoding: 'utf8',
  }).trim();
}

describe('the Node runtime', () => {
  it('runs the tests on Node 22 or later', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
  });

  it('puts the pinned Node first when the one on PATH is too old, and keeps a new-enough one', () => {
    // An old node first on PATH (as on this machine, whose /usr/bin/node is 20).
    const old = join(scratch, 'old');
    execFileSync('mkdir', ['-p', old]);
    writeFileSync(join(old, 'node'), '#!/bin/sh\n[ "$1" = -p ] && { echo 20; exit 0; }\necho v20.0.0\n');
    chmodSync(join(old, 'node'), 0o755);
    const [version, path] = nodeAfterRuntime(`${old}:/usr/bin:/bin`).split('\n');
    expect(version).toBe(`v${pinned}`);
    expect(path).toMatch(new RegExp(`/node-${pinned.replace(/\./g, '\\.')}/bin/node$`));

    // A new-enough node on PATH is used as it is.
    const fresh = join(scratch, 'fresh');
    execFileSync('mkdir', ['-p', fresh]);
    writeFileSync(join(fresh, 'node'), '#!/bin/sh\n[ "$1" = -p ] && { echo 26; exit 0; }\necho v26.1.0\n');
    chmodSync(join(fresh, 'node'), 0o755);
    expect(nodeAfterRuntime(`${fresh}:/usr/bin:/bin`).split('\n')).toEqual(['v26.1.0', join(fresh, 'node')]);
  });

  it("gives the checkout's launcher a runtime the postgres user can run (archive_command runs it as postgres)", () => {
    const out = execFileSync('runuser', ['-u', 'postgres', '--', join(repoRoot, 'node_modules/.pgdr/node'), '--version'], {
      encoding: 'utf8',
    }).trim();
    expect(Number(out.replace(/^v/, '').split('.')[0])).toBeGreaterThanOrEqual(22);
    // The launcher puts it first on PATH, so `pgdr wal push` runs on it, even with an old node on PATH
    // (a preloaded module prints the version of whichever Node runs the archive program).
    const ran = execFileSync(
      'bash',
      [
        '-c',
        `runuser -u postgres -- env PATH=/usr/bin:/bin "NODE_OPTIONS=$1" ${join(repoRoot, 'bin/pgdr')} wal push 2>&1 || true`,
        '-',
        '--import=data:text/javascript,console.error(process.version)',
      ],
      { encoding: 'utf8' },
    );
    const seen = ran.split('\n')[0];
    expect(seen).toBe(out);
  });
});
