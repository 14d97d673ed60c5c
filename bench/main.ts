/**
 * npm run bench: pgdr against the raw Postgres tools, measured in the same run on the same
 * machine. Uses its own stack (.pgdr-stack/bench, ports +5000). PGDR_BENCH picks the parts
 * (default "backup,pgbackrest,wal,restore,runtime"): backup throughput and memory on a pgbench database of
 * PGDR_BENCH_SCALE (default 70, about 1.05 GB); the pgbackrest method against bare pgbackrest; WAL push latency against pgbackrest
 * archive-push, and archive lag under a PGDR_BENCH_WAL_SECONDS (default 300) pgbench load;
 * point-in-time restore of that database through pgdr against the same restore by hand; start-up
 * time and idle/peak RSS of pgdr's own processes, from the sources (tsx) and compiled (bench/runtime.ts); the cost of
 * encryption at rest (age) on backup throughput and wal push latency, against the same without it (bench/encryption.ts); the
 * offsite copy's throughput against an unchecked SDK stream between the two MinIOs (bench/copy.ts); the WAL check's LIST
 * calls on archives of 2,000 and 20,000 segments, in full and incrementally (bench/walCheck.ts).
 * Not in the default list, since it builds clusters of its own: "switchover", the write pause
 * pgbench sees during pgdr's switchover through PgBouncer against Patroni's own switchover
 * (PGDR_BENCH_SWITCHOVER_ROUNDS, default 3; see bench/switchover.ts); and "haproxy", how soon
 * HAProxy's write listener follows a switchover across the namespaced hosts (bench/haproxy.ts).
 */
import { backupBench, type BenchRow } from './backup.js';
import { walBench } from './wal.js';
import { pgbackrestBench } from './pgbackrest.js';
import { restoreBench } from './restore.js';
import { switchoverBench } from './switchover.js';
import { runtimeBench } from './runtime.js';
import { encryptionBench } from './encryption.js';
import { copyBench } from './copy.js';
import { walCheckBench } from './walCheck.js';
import { haproxyBench } from './haproxy.js';

const parts = (process.env.PGDR_BENCH ?? 'backup,pgbackrest,wal,restore,runtime,encryption,copy,walcheck').split(',').map((p) => p.trim());
const benches: Record<string, () => Promise<BenchRow[]>> = {
  backup: backupBench,
  pgbackrest: pgbackrestBench,
  wal: walBench,
  restore: restoreBench,
  switchover: switchoverBench,
  runtime: runtimeBench,
  encryption: encryptionBench,
  copy: copyBench,
  walcheck: walCheckBench,
  haproxy: haproxyBench,
};
const unknown = parts.filter((p) => !benches[p]);
if (unknown.length) {
  console.error(`PGDR_BENCH has "${unknown.join(',')}": expected a comma-separated list of ${Object.keys(benches).join(', ')}`);
  process.exit(2);
}
const results: BenchRow[] = [];
for (const p of parts) results.push(...(await benches[p]!()));
console.log('\npgdr benchmark');
console.log('metric'.padEnd(58) + 'value'.padStart(24) + '   target');
for (const r of results) console.log(`${r.metric.padEnd(58)}${r.value.padStart(24)}   ${r.target ?? ''}`);
process.exit(0);
