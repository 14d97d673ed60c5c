/**
 * The README's fault → outcome table, generated from a test run's output: the fault tests
 * print one `FAULT | <fault> | <outcome>` line each. Usage:
 *   npm test 2>&1 | tee test.log; npx tsx scripts/fault-report.ts test.log --write README.md
 */
import { readFileSync, writeFileSync } from 'node:fs';

const [log, flag, readme] = process.argv.slice(2);
if (!log) {
  console.error('usage: fault-report.ts <test output file> [--write README.md]');
  process.exit(2);
}
const rows = [
  ...new Set(
    readFileSync(log, 'utf8')
      .split('\n')
      .flatMap((l) => (/FAULT \| (.+?) \| (.+)$/.exec(l) ? [l.slice(l.indexOf('FAULT |'))] : [])),
  ),
]
  .map((l) => l.split(' | ').slice(1))
  .sort((a, b) => a[0]!.localeCompare(b[0]!));
if (rows.length === 0) {
  console.error(`no FAULT lines in ${log}`);
  process.exit(1);
}
const table = [
  '| fault | outcome (from the test run) |',
  '|---|---|',
  ...rows.map(([f, o]) => `| ${f} | ${o!.replace(/\|/g, '\\|')} |`),
].join('\n');
if (flag === '--write' && readme) {
  const text = readFileSync(readme, 'utf8');
  const begin = '<!-- faults:begin -->';
  const end = '<!-- faults:end -->';
  if (!text.includes(begin) || !text.includes(end)) throw new Error(`${readme} has no ${begin} ... ${end} markers`);
  writeFileSync(readme, text.slice(0, text.indexOf(begin) + begin.length) + `\n${table}\n` + text.slice(text.indexOf(end)));
  console.log(`wrote ${rows.length} faults into ${readme}`);
} else {
  console.log(table);
}
