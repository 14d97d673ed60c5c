import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { execa } from 'execa';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';
import { planWorkers } from '../../worker/workers.js';
import { stackConfig } from '../helpers/stack.js';

describe('worker process', () => {
  it('stops polling and exits 0 on SIGTERM', async () => {
    const proc = execa(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'worker/main.ts')], {
      env: { PGDR_CONFIG: inject('configPath'), PGDR_ROLE: 'agent', PGDR_AGENT_NODES: 'demo/replica' },
      reject: false,
      all: true,
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker did not start polling: ${output}`)), 60_000);
      proc.all!.on('data', (d: Buffer) => {
        output += d.toString();
        if (output.includes('pgdr worker polling pgdr-node-demo-replica')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    proc.kill('SIGTERM');
    const res = await proc;
    expect(res.exitCode).toBe(0);
    expect(res.all).toContain('pgdr worker stopped');
  });

  it('plans workers from PGDR_ROLE and PGDR_AGENT_NODES, rejecting unknown nodes by name', () => {
    const config = stackConfig();
    expect(planWorkers(config, {})).toEqual({
      control: true,
      agents: [
        { cluster: 'demo', node: 'primary' },
        { cluster: 'demo', node: 'replica' },
      ],
    });
    expect(planWorkers(config, { PGDR_ROLE: 'control' })).toEqual({ control: true, agents: [] });
    expect(planWorkers(config, { PGDR_ROLE: 'agent', PGDR_AGENT_NODES: 'demo/replica' })).toEqual({
      control: false,
      agents: [{ cluster: 'demo', node: 'replica' }],
    });
    expect(() => planWorkers(config, { PGDR_AGENT_NODES: 'demo/nope' })).toThrow(
      'PGDR_AGENT_NODES names "demo/nope": expected cluster/node from pgdr.yaml, one of demo/primary, demo/replica',
    );
    expect(() => planWorkers(config, { PGDR_ROLE: 'boss' })).toThrow('PGDR_ROLE is "boss": expected all, control or agent');
  });
});
