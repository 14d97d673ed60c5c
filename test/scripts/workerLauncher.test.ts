/**
 * bin/pgdr-worker gives a process of node agents only a 2 MiB young generation and gc() for its
 * idle pusher threads (NODE_OPTIONS), and glibc's mmap threshold fixed, however the role is given;
 * keeps an operator's own NODE_OPTIONS after it (so theirs wins) and their own threshold; and
 * leaves the control worker and mixed processes alone. The launcher runs from a copy whose
 * dist/worker.js reports what Node was started with. The worker then takes the launcher's
 * threshold out of the environment its tools and servers inherit.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../scripts/stack/layout.js';
import { dropLauncherOnlyEnv } from '../../worker/launcherEnv.js';

let launcher: string;
beforeAll(() => {
  const root = mkdtempSync(join(tmpdir(), 'pgdr-launcher-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'dist'));
  launcher = join(root, 'bin', 'pgdr-worker');
  copyFileSync(join(repoRoot, 'bin', 'pgdr-worker'), launcher);
  // What the real worker would see: NODE_OPTIONS, and its own arguments.
  writeFileSync(
    join(root, 'dist', 'worker.js'),
    `console.log(JSON.stringify({ options: process.env.NODE_OPTIONS ?? null, args: process.argv.slice(2),
       malloc: process.env.MALLOC_MMAP_THRESHOLD_ ?? null, marked: process.env.PGDR_LAUNCHER_MALLOC ?? null }));`,
  );
});

async function started(args: string[], env: Record<string, string> = {}) {
  const r = await execa('bash', [launcher, ...args], { env: { PGDR_ROLE: '', NODE_OPTIONS: '', MALLOC_MMAP_THRESHOLD_: '', ...env } });
  return JSON.parse(r.stdout) as { options: string | null; args: string[]; malloc: string | null; marked: string | null };
}

describe('the worker launcher', () => {
  it('gives node agents a 2 MiB young generation, whether the role comes as --role agent, --role=agent or PGDR_ROLE', async () => {
    for (const [args, env] of [
      [['--role', 'agent', '--instance', 'main-db1'], {}],
      [['--role=agent'], {}],
      [['--instance', 'main-db1'], { PGDR_ROLE: 'agent' }],
    ] as const) {
      const got = await started([...args], env);
      expect(got.options).toBe('--max-semi-space-size=2 --expose-gc');
      // glibc's mmap threshold fixed, marked as the launcher's own (worker/launcherEnv.ts takes it out again).
      expect([got.malloc, got.marked]).toEqual(['1048576', '1']);
      // The worker still gets its own arguments unchanged.
      expect(got.args).toEqual(args);
    }
  });

  it("keeps an operator's NODE_OPTIONS after the agent's flag, so a value of their own wins", async () => {
    expect((await started(['--role', 'agent'], { NODE_OPTIONS: '--max-semi-space-size=8' })).options).toBe(
      '--max-semi-space-size=2 --expose-gc --max-semi-space-size=8',
    );
  });

  it("keeps an operator's own mmap threshold, unmarked, so the worker leaves it in place for what it starts", async () => {
    expect(await started(['--role', 'agent'], { MALLOC_MMAP_THRESHOLD_: '131072' })).toMatchObject({ malloc: '131072', marked: null });
  });

  it('leaves the control worker, a process of both, and an agent role named later on the command line to a control worker alone', async () => {
    expect(await started(['--role', 'control'])).toMatchObject({ options: '', malloc: '', marked: null });
    expect((await started([])).options).toBe('');
    expect((await started(['--role', 'agent', '--role', 'control'])).options).toBe('');
    expect((await started(['--role', 'control'], { PGDR_ROLE: 'agent' })).options).toBe('');
  });
});

describe('the worker, started by the launcher', () => {
  it("takes the launcher's mmap threshold out of what its tools inherit, and leaves an operator's", () => {
    const launched: NodeJS.ProcessEnv = { MALLOC_MMAP_THRESHOLD_: '1048576', PGDR_LAUNCHER_MALLOC: '1', PATH: '/usr/bin' };
    dropLauncherOnlyEnv(launched);
    expect(launched).toEqual({ PATH: '/usr/bin' });
    const operators: NodeJS.ProcessEnv = { MALLOC_MMAP_THRESHOLD_: '131072', PATH: '/usr/bin' };
    dropLauncherOnlyEnv(operators);
    expect(operators).toEqual({ MALLOC_MMAP_THRESHOLD_: '131072', PATH: '/usr/bin' });
  });
});
