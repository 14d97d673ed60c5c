/**
 * Determinism: every recorded history in test/fixtures/histories (scripts/record-histories.ts)
 * replays against the current workflow code, so a change that would break runs in flight
 * fails here first. Replay is offline: no stack needed.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import * as workflows from '../../workflows/index.js';
import { historyFromJson } from '../../scripts/record-histories.js';
import { workflowBundle } from '../helpers/cluster.js';

/**
 * Workflow types exported before any run of them could be recorded. Each entry needs a reason
 * and goes once `npm run record-histories -- --types <type>` has recorded it.
 */
const notRecordedYet: Record<string, string> = {};

const dir = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();
const workflowTypes = Object.entries(workflows)
  .filter(([, v]) => typeof v === 'function')
  .map(([k]) => k)
  .sort();
const load = (file: string) => historyFromJson(readFileSync(dir + file, 'utf8'));
const recordedType = (file: string) => load(file).events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;

// One replay worker per fixture logs its state changes at INFO.
Runtime.install({ logger: new DefaultLogger('WARN') });

describe('replay of recorded histories', () => {
  it('has a fixture for every workflow type workflows/index.ts exports', () => {
    const covered = new Set(fixtures.map(recordedType));
    expect(workflowTypes.filter((t) => !covered.has(t) && !(t in notRecordedYet))).toEqual([]);
    // The allow-list stays honest: a type leaves it once it is recorded.
    expect(Object.keys(notRecordedYet).filter((t) => covered.has(t))).toEqual([]);
  });

  it('names every fixture <workflowType>-<outcome>[-<variant>].json after the type it records', () => {
    for (const f of fixtures)
      expect(f).toMatch(new RegExp(`^${recordedType(f)}-(completed|failed|cancelled|terminated|timed-out)(-[a-z0-9-]+)?\\.json$`));
  });

  it.each(fixtures)('%s replays against the current workflow code without nondeterminism', async (file) => {
    await expect(
      Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: 'replay-test' }, load(file), file),
    ).resolves.toBeUndefined();
  });
});
