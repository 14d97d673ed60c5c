/** Prints the configuration reference (a markdown table) from the zod schema's descriptions. */
import { readFileSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { configSchema } from '../config/schema.js';

interface Js {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, Js>;
  additionalProperties?: Js | boolean;
  required?: string[];
  anyOf?: Js[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
}

function describeType(s: Js): string {
  if (s.enum) return s.enum.map((e) => `\`${String(e)}\``).join(' \\| ');
  if (s.anyOf) return 'secret ref `{env}` \\| `{file}`';
  const range = s.minimum !== undefined || s.maximum !== undefined ? ` ${s.minimum ?? ''}..${s.maximum ?? ''}` : '';
  return `${Array.isArray(s.type) ? s.type.join('|') : (s.type ?? 'any')}${s.format ? ` (${s.format})` : ''}${range}`;
}

export function configReference(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Js;
  const rows: string[] = ['| field | type | default | description |', '|---|---|---|---|'];
  const walk = (s: Js, path: string, required: boolean) => {
    if (s.properties && !s.anyOf) {
      if (path) rows.push(`| \`${path}\` | object | ${required ? 'required' : ''} | ${s.description ?? ''} |`);
      for (const [k, v] of Object.entries(s.properties)) walk(v, path ? `${path}.${k}` : k, s.required?.includes(k) ?? false);
      return;
    }
    if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      rows.push(`| \`${path}\` | map | ${required ? 'required' : ''} | ${s.description ?? ''} |`);
      walk(s.additionalProperties, `${path}.<name>`, true);
      return;
    }
    const def = s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : required ? 'required' : '(none)';
    rows.push(`| \`${path}\` | ${describeType(s)} | ${def} | ${s.description ?? ''} |`);
  };
  walk(root, '', true);
  return rows.join('\n');
}

/** Rewrites the table between the config-reference markers of a markdown file. */
export function writeReference(path: string): void {
  const text = readFileSync(path, 'utf8');
  const start = '<!-- config-reference:start -->';
  const end = '<!-- config-reference:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${path} has no ${start} ... ${end} markers`);
  writeFileSync(path, `${text.slice(0, a + start.length)}\n${configReference()}\n${text.slice(b)}`);
}

if (process.argv[1]?.endsWith('config-reference.ts')) {
  if (process.argv[2] === '--write') writeReference(process.argv[3] ?? 'README.md');
  else console.log(configReference());
}
