/**
 * npm run bench: pgdr against the raw Postgres tools, measured in the same run on the same
 * machine. Uses its own stack (.pgdr-stack/bench, ports +5000). PGDR_BENCH picks the parts
 * (default "backup,pgbackrest,wal,restore"): backup throughput and memory on a pgbench database of
 * PGDR_BENCH_SCALE (default 70, about 1.05 GB); the pgbackrest method against bare pgbackrest; WAL push latency against pgbackrest
 * archive-push, and archive lag under a PGDR_BENCH_WAL_SECONDS (default 300) pgbench load;
 * point-in-time restore of that database through pgdr against the same restore by hand.
 */
import { backupBench, type BenchRow } from './backup.js';
import { walBench } from './wal.js';
import { pgbackrestBench } from './pgbackrest.js';
import { restoreBench } from './restore.js';

const parts = (process.env.PGDR_BENCH ?? 'backup,pgbackrest,wal,restore').split(',').map((p) => p.trim());
const benches: Record<string, () => Promise<BenchRow[]>> = { backup: backupBench, pgbackrest: pgbackrestBench, wal: walBench, restore: restoreBench };
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
