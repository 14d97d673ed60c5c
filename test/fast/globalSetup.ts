/**
 * The fast tier's global setup (vitest.fast.config.ts): one Temporal dev server and one workflow
 * bundle for the whole run, both gone at the end. Under the main config (npm test) the fast test
 * files find neither and start their own per file (helpers/env.ts).
 */
import type { TestProject } from 'vitest/node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleWorkflows, startDevServer } from './helpers/server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** host:port of the fast tier's dev server, when the run shares one. */
    fastTemporalAddress?: string;
    /** A file holding the bundled workflows, when the run shares one. */
    fastWorkflowBundle?: string;
  }
}

export default async function setup(project: TestProject) {
  const [env, bundle] = await Promise.all([startDevServer(), bundleWorkflows()]);
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-fast-'));
  const codePath = join(dir, 'workflows.js');
  writeFileSync(codePath, bundle.code);
  project.provide('fastTemporalAddress', env.address);
  project.provide('fastWorkflowBundle', codePath);
  return async () => {
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  };
}
