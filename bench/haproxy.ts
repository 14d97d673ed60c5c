/**
 * HAProxy following a switchover across hosts (issue 18): on a topology of its own
 * (scripts/hosts, tag "b"), PGDR_BENCH_HAPROXY_ROUNDS (default 4) switchovers alternate pg1 → pg2
 * and back through the API, and scripts/hosts/flip.ts measures how long after the candidate's
 * promotion new connections through HAProxy's write listener first reach it (one poll every
 * 20 ms: that is the resolution). The anchor is the promotion itself, seen by the same poller;
 * the target is 2 s. Also: every write connection handed to a standby meanwhile (target 0).
 */
import { CLUSTER, topologyDown, type PgNode } from '../scripts/hosts/topology.js';
import { openHosts, ownTopology } from '../scripts/hosts/session.js';
import { followWriteFlip } from '../scripts/hosts/flip.js';
import type { BenchRow } from './backup.js';
import { median } from './stack.js';

const TARGET_MS = 2000;

export async function haproxyBench(): Promise<BenchRow[]> {
  const rounds = Number(process.env.PGDR_BENCH_HAPROXY_ROUNDS ?? 4);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50)
    throw new Error(`PGDR_BENCH_HAPROXY_ROUNDS is "${process.env.PGDR_BENCH_HAPROXY_ROUNDS}": expected an integer from 1 to 50`);
  const t = ownTopology('b', 3);
  const h = await openHosts(t);
  const flips: number[] = [];
  let toStandby = 0;
  try {
    for (let i = 0; i < rounds; i++) {
      const [from, to]: [PgNode, PgNode] = i % 2 === 0 ? ['pg1', 'pg2'] : ['pg2', 'pg1'];
      const { flipMs, answers } = await followWriteFlip({
        candidatePromoted: async () => (await h.sql(to, 'select pg_is_in_recovery() as r')).rows[0].r === false,
        throughListener: async () =>
          (await h.sqlAt(t.addr.ctl1, t.ports.haproxyWrite, 'select host(inet_server_addr()) as addr, pg_is_in_recovery() as standby'))
            .rows[0],
        candidateAddr: t.addr[to],
        intervalMs: 20,
        settleMs: 30_000,
        run: async () => {
          // The backup each switchover starts holds the cluster lock: wait for it.
          for (;;) {
            const res = await h.api('POST', `/api/v1/clusters/${CLUSTER}/switchover`, { candidate: to });
            if (res.status === 202) {
              await h.finished(res.body.workflowId);
              return;
            }
            if (res.status !== 409) throw new Error(`switchover ${from} → ${to} refused: ${JSON.stringify(res.body)}`);
            await new Promise((r) => setTimeout(r, 500));
          }
        },
      });
      flips.push(flipMs);
      toStandby += answers.filter((a) => a.standby).length;
      console.log(`haproxy bench: round ${i + 1} ${from} → ${to}: write listener on the new primary ${flipMs} ms after its promotion`);
    }
  } finally {
    await h.close();
    await topologyDown(t);
  }
  const sorted = [...flips].sort((a, b) => a - b);
  const med = median(flips);
  const max = sorted.at(-1)!;
  return [
    {
      metric: `haproxy flip after promotion, median of ${rounds} (ms)`,
      value: `${med} (${(med / TARGET_MS).toFixed(2)}x)`,
      target: `<= ${TARGET_MS} ms (1.00x)`,
    },
    {
      metric: `haproxy flip after promotion, largest of ${rounds} (ms)`,
      value: `${max} (${(max / TARGET_MS).toFixed(2)}x)`,
      target: `<= ${TARGET_MS} ms (1.00x)`,
    },
    { metric: 'write connections handed to a standby', value: String(toStandby), target: '0' },
  ];
}
