/**
 * pgdr-worker's health check (worker/health.ts, the image's HEALTHCHECK) against the shared
 * stack, whose worker process (role all) runs on this host.
 */
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { inject, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../../scripts/stack/layout.js';
import { freshQueue } from '../helpers/stack.js';

function health(configPath: string, env: Record<string, string> = {}) {
  return execa(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'worker/health.ts')], {
    env: { PGDR_CONFIG: configPath, ...env },
    reject: false,
    all: true,
  });
}

describe('pgdr-worker health', () => {
  it("is healthy when this host's worker polls the control queue and every node agent's queue", async () => {
    const r = await health(inject('configPath'));
    expect({ exitCode: r.exitCode, out: r.all }).toEqual({ exitCode: 0, out: 'pgdr-worker health: ok' });
    expect((await health(inject('configPath'), { PGDR_ROLE: 'control' })).exitCode).toBe(0);
  });

  it('is unhealthy, naming the queue, when nothing here polls a queue this process should serve', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgdr-health-'));
    try {
      const config = parse(readFileSync(inject('configPath'), 'utf8'));
      const queue = freshQueue('health');
      config.temporal.taskQueue = queue;
      const file = join(dir, 'pgdr.yaml');
      writeFileSync(file, stringify(config));
      const r = await health(file, { PGDR_ROLE: 'control' });
      expect(r.exitCode).toBe(1);
      expect(r.all).toMatch(
        new RegExp(`^pgdr-worker health: no poller from \\S+ on ${queue} \\(workflow tasks\\), ${queue} \\(activity tasks\\)$`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
