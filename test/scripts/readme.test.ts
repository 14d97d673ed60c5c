import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';
import { configReference } from '../../scripts/config-reference.js';
import { errorCatalogue } from '../../domain/errors.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

describe('README', () => {
  it('carries the configuration reference generated from the schema', () => {
    expect(readme).toContain(configReference());
  });

  it('lists every error class of the catalogue in its error table', () => {
    for (const name of Object.keys(errorCatalogue)) expect(readme).toMatch(new RegExp(`\\| \`${name}\` \\|`));
  });

  it('shows the two commands, and .ci/run runs exactly the test one', () => {
    expect(readme).toContain('npm run demo');
    expect(readme).toContain('npm test');
    const ci = readFileSync(join(repoRoot, '.ci/run'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('set ') && !l.startsWith('cd '));
    expect(ci).toEqual(['npm test']);
  });
});
