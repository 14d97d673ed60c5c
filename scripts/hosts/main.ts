/**
 * The multi-host harness for a person (tests use the same functions):
 *
 *   tsx scripts/hosts/main.ts up       build the hosts and start everything on them (idempotent)
 *   tsx scripts/hosts/main.ts down     stop everything, remove the hosts; state and logs stay
 *   tsx scripts/hosts/main.ts status   which hosts run what
 *
 * PGDR_HOSTS_TAG, PGDR_HOSTS_SUBNET and PGDR_HOSTS_DIR place it (scripts/hosts/topology.ts).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readPid } from '../stack/procs.js';
import { holderPid } from './netns.js';
import { hostDir, topology, topologyDown, topologyUp } from './topology.js';

async function main(argv: string[]): Promise<void> {
  const t = topology();
  const [cmd] = argv;
  if (cmd === 'up') return topologyUp(t);
  if (cmd === 'down') {
    const left = await topologyDown(t);
    if (left.length) throw new Error(`left behind after teardown:\n  ${left.join('\n  ')}`);
    console.log(`hosts: removed; state and logs kept in ${t.dir}`);
    return;
  }
  if (cmd === 'status') {
    for (const h of t.net.hosts) {
      const procs = ['temporal', 'minio', 'agent', 'control', 'api', 'haproxy', 'pgbouncer'].filter((p) =>
        readPid(join(hostDir(t, h.name), 'run', `${p}.pid`)),
      );
      const pg = existsSync(join(hostDir(t, h.name), 'pg', h.name, 'postmaster.pid')) ? ['postgres'] : [];
      const up = holderPid(t.net, h.name) ? 'up  ' : 'down';
      console.log(`${h.name.padEnd(5)} ${up} ${h.addresses.join(',').padEnd(26)} ${[...procs, ...pg].join(' ')}`);
    }
    console.log(`state dir ${t.dir}`);
    return;
  }
  throw new Error(`unknown command "${cmd ?? ''}": expected up, down or status`);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`hosts: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
