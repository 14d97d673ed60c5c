/** Prints the README's error table (a markdown table) from the error table in domain/errors.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { errorTable } from '../domain/errors.js';

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function errorReference(): string {
  const rows = ['| code | class | retried | HTTP | meaning | hint |', '|---|---|---|---|---|---|'];
  for (const r of errorTable) {
    const hint = r.hint === undefined ? '-' : cell(r.hint);
    rows.push(`| \`${r.code}\` | \`${r.class.name}\` | ${r.retryable ? 'yes' : 'no'} | ${r.http ?? '-'} | ${cell(r.meaning)} | ${hint} |`);
  }
  return rows.join('\n');
}

/** Rewrites the table between the error-reference markers of a markdown file. */
export function writeErrorReference(path: string): void {
  const text = readFileSync(path, 'utf8');
  const start = '<!-- error-reference:start -->';
  const end = '<!-- error-reference:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${path} has no ${start} ... ${end} markers`);
  writeFileSync(path, `${text.slice(0, a + start.length)}\n${errorReference()}\n${text.slice(b)}`);
}

if (process.argv[1]?.endsWith('error-reference.ts')) {
  if (process.argv[2] === '--write') writeErrorReference(process.argv[3] ?? 'README.md');
  else console.log(errorReference());
}
