import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { execa } from 'execa';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';

const pgdr = (args: string[], env: Record<string, string> = {}) =>
  execa(join(repoRoot, 'bin/pgdr'), args, { env: { PGDR_CONFIG: inject('configPath'), PGDR_API_URL: '', PGDR_API_TOKEN: '', ...env }, reject: false });

describe('pgdr status', () => {
  it('prints a table with one primary and one streaming standby', async () => {
    const res = await pgdr(['status', 'demo']);
    expect(res.stderr).toBe('');
    expect(res.exitCode).toBe(0);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toMatch(/^cluster demo: primary primary, checked /);
    expect(lines.find((l) => l.startsWith('NODE'))).toMatch(/NODE\s+ROLE\s+TL\s+LSN/);
    expect(lines.find((l) => l.startsWith('primary'))).toMatch(/^primary\s+primary\s+1\s+[0-9A-F]+\/[0-9A-F]+\s+-\s+1 standby\(s\)\s+on/);
    expect(lines.find((l) => l.startsWith('replica'))).toMatch(/^replica\s+standby\s+1\s+[0-9A-F]+\/[0-9A-F]+\s+\d.*streaming\s+on/);
    expect(res.stdout).toContain('warnings: none');
  });

  it('prints the API\'s error for an unknown cluster and exits 1', async () => {
    const res = await pgdr(['status', 'nosuch']);
    expect(res.exitCode).toBe(1);
    expect(res.stderr.trim()).toBe('pgdr: unknown cluster "nosuch": expected one of "demo"');
  });

  it('explains how to point it at an API when there is no config', async () => {
    const res = await pgdr(['status', 'demo'], { PGDR_CONFIG: '/nonexistent/pgdr.yaml' });
    expect(res.exitCode).toBe(3);
    expect(res.stderr).toContain('no API to talk to: set PGDR_API_URL and PGDR_API_TOKEN, or PGDR_CONFIG');
  });
});
