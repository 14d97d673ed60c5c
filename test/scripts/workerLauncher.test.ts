/**
 * bin/pgdr-worker gives a process of node agents only a 2 MiB young generation
 * (--max-semi-space-size=2 in NODE_OPTIONS), however the role is given, keeps an operator's own
 * NODE_OPTIONS after it (so theirs wins), and leaves the control worker and mixed processes alone.
 * The launcher runs from a copy whose dist/worker.js reports what Node was started with.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../scripts/stack/layout.js';

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
    'console.log(JSON.stringify({ options: process.env.NODE_OPTIONS ?? null, args: process.argv.slice(2) }));',
  );
});

async function started(args: string[], env: Record<string, string> = {}) {
  const r = await execa('bash', [launcher, ...args], { env: { PGDR_ROLE: '', NODE_OPTIONS: '', ...env } });
  return JSON.parse(r.stdout) as { options: string | null; args: string[] };
}

describe('the worker launcher', () => {
  it('gives node agents a 2 MiB young generation, whether the role comes as --role agent, --role=agent or PGDR_ROLE', async () => {
    for (const [args, env] of [
      [['--role', 'agent', '--instance', 'main-db1'], {}],
      [['--role=agent'], {}],
      [['--instance', 'main-db1'], { PGDR_ROLE: 'agent' }],
    ] as const) {
      const got = await started([...args], env);
      expect(got.options).toBe('--max-semi-space-size=2');
      // The worker still gets its own arguments unchanged.
      expect(got.args).toEqual(args);
    }
  });

  it("keeps an operator's NODE_OPTIONS after the agent's flag, so a value of their own wins", async () => {
    expect((await started(['--role', 'agent'], { NODE_OPTIONS: '--max-semi-space-size=8' })).options).toBe(
      '--max-semi-space-size=2 --max-semi-space-size=8',
    );
  });

  it('leaves the control worker, a process of both, and an agent role named later on the command line to a control worker alone', async () => {
    expect((await started(['--role', 'control'])).options).toBe('');
    expect((await started([])).options).toBe('');
    expect((await started(['--role', 'agent', '--role', 'control'])).options).toBe('');
    expect((await started(['--role', 'control'], { PGDR_ROLE: 'agent' })).options).toBe('');
  });
});
