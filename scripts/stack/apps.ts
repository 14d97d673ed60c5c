/** pgdr's own processes in the dev stack: the worker (all queues) and the HTTP API. */
import { join } from 'node:path';
import type { StackLayout } from './layout.js';
import { repoRoot } from './layout.js';
import { existsSync, readFileSync } from 'node:fs';
import { readPid, startDaemon, stopDaemon, waitFor, portOpen } from './procs.js';

/** Printed by worker/main.ts once every worker has started polling. */
export const READY_LINE = 'pgdr worker polling';

export function appEnv(layout: StackLayout, caCert: string): NodeJS.ProcessEnv {
  return { PGDR_CONFIG: layout.configFile, NODE_EXTRA_CA_CERTS: caCert };
}

export async function ensureApps(layout: StackLayout, caCert: string): Promise<void> {
  const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
  const env = appEnv(layout, caCert);
  for (const app of ['worker', 'api'] as const) {
    const pidFile = join(layout.run, `${app}.pid`);
    if (readPid(pidFile)) continue;
    startDaemon({
      cmd: tsx,
      args: [join(repoRoot, app, 'main.ts')],
      env,
      logFile: join(layout.logs, `${app}.log`),
      pidFile,
      cwd: repoRoot,
    });
  }
  await waitFor(`pgdr api on port ${layout.ports.api}`, () => portOpen(layout.ports.api), 60000, join(layout.logs, 'api.log'));
  // Ready means polling: the worker logs this line once every queue has a poller.
  const workerLog = join(layout.logs, 'worker.log');
  await waitFor(
    'pgdr worker polling its task queues',
    async () => existsSync(workerLog) && readFileSync(workerLog, 'utf8').includes(READY_LINE),
    90000,
    workerLog,
  );
}

export async function stopApps(layout: StackLayout): Promise<void> {
  // The API first, so nothing new starts; the worker gets its grace time to drain.
  await stopDaemon(join(layout.run, 'api.pid'), 'api');
  await stopDaemon(join(layout.run, 'worker.pid'), 'worker', 45000);
}

export function appsRunning(layout: StackLayout): { worker: boolean; api: boolean } {
  return { worker: !!readPid(join(layout.run, 'worker.pid')), api: !!readPid(join(layout.run, 'api.pid')) };
}
