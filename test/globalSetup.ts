/**
 * One real stack per test run: Temporal, MinIO (TLS), the demo Postgres cluster, and pgdr's
 * worker and API as real processes. It lives in .pgdr-stack/test with ports shifted by
 * PGDR_PORT_OFFSET (default 10000 here) so it never collides with the demo stack. A stack that
 * was already up is reused and left running; one this run started is stopped at the end.
 */
import type { TestProject } from 'vitest/node';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { stackLayout, repoRoot } from '../scripts/stack/layout.js';
import { stackDown, stackStatus, stackUp } from '../scripts/stack/main.js';

declare module 'vitest' {
  export interface ProvidedContext {
    stackDir: string;
    configPath: string;
    apiUrl: string;
    apiToken: string;
    caCert: string;
    portOffset: string;
  }
}

export default async function setup(project: TestProject) {
  process.env.PGDR_STACK_DIR ??= join(repoRoot, '.pgdr-stack', 'test');
  process.env.PGDR_PORT_OFFSET ??= '10000';
  const layout = stackLayout();
  const before = await stackStatus(layout);
  const wasUp = Object.values(before).every(Boolean);
  await stackUp(layout, { apps: true });
  project.provide('stackDir', layout.dir);
  project.provide('configPath', layout.configFile);
  project.provide('apiUrl', `http://127.0.0.1:${layout.ports.api}`);
  project.provide('apiToken', readFileSync(join(layout.secrets, 'api-token'), 'utf8').trim());
  project.provide('caCert', join(layout.tls, 'ca.crt'));
  project.provide('portOffset', process.env.PGDR_PORT_OFFSET);
  return async () => {
    if (!wasUp && process.env.PGDR_KEEP_STACK !== '1') await stackDown(layout);
  };
}
