/**
 * npm run bench: pgdr against the raw Postgres tools, measured in the same run on the same
 * machine. Uses its own stack (.pgdr-stack/bench, ports +5000) and a pgbench database of
 * PGDR_BENCH_SCALE (default 70, about 1.05 GB).
 */
import { backupBench } from './backup.js';

const results = await backupBench();
console.log('\npgdr benchmark');
console.log('metric'.padEnd(58) + 'value'.padStart(14) + '   target');
for (const r of results) console.log(`${r.metric.padEnd(58)}${r.value.padStart(14)}   ${r.target ?? ''}`);
process.exit(0);
