import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';
import { apiTarget } from '../../cli/client.js';

const pgdr = (args: string[], env: Record<string, string> = {}) =>
  execa(join(repoRoot, 'bin/pgdr'), args, {
    env: { PGDR_CONFIG: inject('configPath'), PGDR_API_URL: '', PGDR_API_TOKEN: '', ...env },
    reject: false,
  });

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

  it("prints the API's error for an unknown cluster and exits 1", async () => {
    const res = await pgdr(['status', 'nosuch']);
    expect(res.exitCode).toBe(1);
    expect(res.stderr.trim()).toBe('pgdr: unknown cluster "nosuch": expected one of "demo"');
  });

  it("-o json prints the API's answer as JSON and nothing else", async () => {
    const res = await pgdr(['status', 'demo', '-o', 'json']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const s = JSON.parse(res.stdout);
    expect(s).toMatchObject({ cluster: 'demo', primary: 'primary', warnings: [] });
    expect(s.nodes.map((n: { node: string; probe: { role: string } }) => [n.node, n.probe.role])).toEqual([
      ['primary', 'primary'],
      ['replica', 'standby'],
    ]);
  });

  it('talks to the API --api-url names with the token from PGDR_API_TOKEN_FILE, no config needed; a wrong token exits 1', async () => {
    const real = apiTarget({ PGDR_CONFIG: inject('configPath') });
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-status-token-'));
    writeFileSync(join(dir, 'token'), `${real.token}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'wrong'), 'not-the-token\n', { mode: 0o600 });
    const env = { PGDR_CONFIG: '/nonexistent/pgdr.yaml' };
    const res = await pgdr(['--api-url', real.url, 'status', 'demo'], { ...env, PGDR_API_TOKEN_FILE: join(dir, 'token') });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^cluster demo: primary primary, checked /);
    const wrong = await pgdr(['--api-url', real.url, 'status', 'demo'], { ...env, PGDR_API_TOKEN_FILE: join(dir, 'wrong') });
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stdout).toBe('');
  });

  it('explains how to point it at an API when there is no config', async () => {
    const res = await pgdr(['status', 'demo'], { PGDR_CONFIG: '/nonexistent/pgdr.yaml' });
    expect(res.exitCode).toBe(3);
    expect(res.stderr).toContain('no API to talk to: set PGDR_API_URL and PGDR_API_TOKEN, or PGDR_CONFIG');
  });
});
