/** The bench's own stack (.pgdr-stack/bench, ports +5000), shared by every bench part. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackLayout, repoRoot } from '../scripts/stack/layout.js';
import { stackUp } from '../scripts/stack.js';
import { demoClusterPlan, NO_WAL_COMMANDS } from '../scripts/stack/postgres.js';

export async function benchStack() {
  const env = { ...process.env, PGDR_STACK_DIR: process.env.PGDR_STACK_DIR ?? join(repoRoot, '.pgdr-stack', 'bench'), PGDR_PORT_OFFSET: process.env.PGDR_PORT_OFFSET ?? '5000' };
  const layout = stackLayout(env);
  await stackUp(layout, { apps: false });
  const plan = demoClusterPlan(layout, NO_WAL_COMMANDS);
  const secret = (name: string) => readFileSync(join(layout.secrets, name), 'utf8').trim();
  return { layout, plan, secrets: { superuserPassword: secret('pg-superuser-password'), pgdrPassword: secret('pgdr-password') } };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
