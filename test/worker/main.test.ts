import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { execa } from 'execa';
import { join } from 'node:path';
import { waitForLine } from '../helpers/process.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import { planWorkers } from '../../worker/workers.js';
import { compiled, workflowBundlePath } from '../../worker/workflowCode.js';
import { stackConfig } from '../helpers/stack.js';

describe('worker process', () => {
  it('stops polling and exits 0 on SIGTERM', async () => {
    const proc = execa(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'worker/main.ts')], {
      env: { PGDR_CONFIG: inject('configPath'), PGDR_ROLE: 'agent', PGDR_AGENT_NODES: 'demo/replica' },
      reject: false,
      all: true,
    });
    await waitForLine(proc, 'pgdr worker polling pgdr-node-demo-replica');
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

  it('runs one agent from the flags a pgdr-agent@ unit passes, through the bin/ launcher', async () => {
    const proc = execa(
      join(repoRoot, 'bin/pgdr-worker'),
      ['--config', inject('configPath'), '--role', 'agent', '--instance', 'demo-replica'],
      {
        env: { PGDR_CONFIG: '/nonexistent/pgdr.yaml' },
        reject: false,
        all: true,
      },
    );
    await waitForLine(proc, 'pgdr worker polling pgdr-node-demo-replica on');
    proc.kill('SIGTERM');
    const res = await proc;
    expect(res.exitCode).toBe(0);
    // An agent alone has no workflow code to load.
    expect(res.all).not.toContain('workflow code:');
  });

  it('plans the one agent a systemd instance <cluster>-<node> names, even when names hold "-"', () => {
    const config = { clusters: { 'a-b': { nodes: { c: {}, d: {} } }, a: { nodes: { 'b-c': {} } }, x: { nodes: { 'y-z': {} } } } } as never;
    expect(planWorkers(config, { PGDR_ROLE: 'agent', PGDR_AGENT_INSTANCE: 'x-y-z' })).toEqual({
      control: false,
      agents: [{ cluster: 'x', node: 'y-z' }],
    });
    expect(planWorkers(config, { PGDR_ROLE: 'agent', PGDR_AGENT_INSTANCE: 'a-b-d' }).agents).toEqual([{ cluster: 'a-b', node: 'd' }]);
    expect(() => planWorkers(config, { PGDR_AGENT_INSTANCE: 'a-b-c' })).toThrow(
      'PGDR_AGENT_INSTANCE is "a-b-c": it names more than one node (a-b/c, a/b-c); use PGDR_AGENT_NODES=cluster/node',
    );
    expect(() => planWorkers(config, { PGDR_AGENT_INSTANCE: 'x-q' })).toThrow(
      'PGDR_AGENT_INSTANCE is "x-q": expected <cluster>-<node> of a node in pgdr.yaml, one of a-b-c, a-b-d, a-b-c, x-y-z',
    );
  });

  it('takes the workflow bundle PGDR_WORKFLOW_BUNDLE names, refuses a missing one, and bundles the sources otherwise', () => {
    expect(compiled).toBe(false);
    expect(workflowBundlePath({})).toBeUndefined();
    expect(workflowBundlePath({ PGDR_WORKFLOW_BUNDLE: join(repoRoot, 'package.json') })).toBe(join(repoRoot, 'package.json'));
    expect(() => workflowBundlePath({ PGDR_WORKFLOW_BUNDLE: '/nonexistent/bundle.js' })).toThrow(
      'PGDR_WORKFLOW_BUNDLE is "/nonexistent/bundle.js": expected the path of a workflow bundle (dist/workflow-bundle.js from npm run build), and there is no such file',
    );
  });
});
