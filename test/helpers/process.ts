/** A pgdr worker in a process of its own, for tests that kill it. */
import { execa, type ResultPromise } from 'execa';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';

/** `env` adds to the worker's environment (e.g. PGDR_ROLE=agent). */
export function spawnWorker(configPath: string, env: Record<string, string> = {}): ResultPromise {
  // Its own process group, so SIGKILL takes tsx's node child too.
  return execa(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'worker/main.ts')], {
    env: { PGDR_CONFIG: configPath, ...env },
    detached: true,
    reject: false,
    all: true,
  });
}

export async function waitForLine(proc: ResultPromise, text: string): Promise<void> {
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker never printed "${text}": ${out}`)), 60_000);
    proc.all!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}
