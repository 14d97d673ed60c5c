import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { configReference } from '../../scripts/config-reference.js';
import { errorReference } from '../../scripts/error-reference.js';
import { PgdrError, errorTable, nonRetryableErrorTypes } from '../../domain/errors.js';
import { STATUS_BY_CODE, errorReply } from '../../api/errors.js';
import * as profiles from '../../workflows/profiles.js';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

describe('README', () => {
  it('carries the configuration reference generated from the schema', () => {
    expect(readme).toContain(configReference());
  });

  it('carries the error table generated from domain/errors.ts, one row per error class', () => {
    const section = readme.split('<!-- error-reference:start -->\n')[1]?.split('\n<!-- error-reference:end -->')[0];
    // Regenerate with: npx tsx scripts/error-reference.ts --write README.md
    expect(section?.split('\n')).toEqual(errorReference().split('\n'));
    for (const r of errorTable) expect(readme).toMatch(new RegExp(`\\| \`${r.code}\` \\| \`${r.class.name}\` \\|`));
  });

  it('shows the two commands, and .ci/run runs exactly the test one', () => {
    expect(readme).toContain('npm run demo');
    expect(readme).toContain('npm test');
    const ci = readFileSync(join(repoRoot, '.ci/run'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('set ') && !l.startsWith('cd '));
    expect(ci).toEqual(['npm test']);
  });
});

describe('the error table drives retries and HTTP statuses', () => {
  it('every activity profile treats exactly the non-retryable rows as non-retryable', () => {
    const expected = errorTable
      .filter((r) => !r.retryable)
      .map((r) => r.class.name)
      .sort();
    const seen = Object.entries(profiles).filter(([, p]) => typeof p === 'object' && p !== null && 'retry' in p);
    expect(seen.length).toBeGreaterThan(5);
    for (const [name, p] of seen) expect([...(p.retry?.nonRetryableErrorTypes ?? [])].sort(), name).toEqual(expected);
    expect([...nonRetryableErrorTypes].sort()).toEqual(expected);
  });

  it('the API status map holds exactly the rows with an HTTP status, and no code the table lacks', () => {
    expect(Object.fromEntries(STATUS_BY_CODE)).toEqual(
      Object.fromEntries(errorTable.filter((r) => r.http !== null).map((r) => [r.code, r.http])),
    );
  });

  it("the API answers each error with its row's status (500 where it has none), thrown or as a workflow's failure", () => {
    for (const r of errorTable) {
      // An instance of the class without running its constructor (whose arguments differ per class).
      const err = Object.assign(Object.create(r.class.prototype) as PgdrError, { code: r.code, context: { cluster: 'c1' }, message: 'm' });
      const thrown = errorReply(err);
      const failure = ApplicationFailure.create({ type: r.class.name, message: 'm', details: [{ code: r.code, cluster: 'c1' }] });
      const failed = errorReply(new WorkflowFailedError('Workflow execution failed', failure, RetryState.NON_RETRYABLE_FAILURE));
      const want = { status: r.http ?? 500, body: { error: { code: r.code, message: 'm', cluster: 'c1' } } };
      expect({ thrown, failed }, r.code).toEqual({ thrown: want, failed: want });
    }
  });
});
