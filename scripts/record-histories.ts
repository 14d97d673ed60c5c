/**
 * Records the replay fixtures in test/fixtures/histories: for every workflow type exported from
 * workflows/index.ts, the newest closed runs in the test stack's Temporal that still replay
 * against the current code, one per wanted outcome (a completed run; a failed one where the
 * failure path matters; a few variants, such as the pgBackRest method). The replay test
 * (test/workflows/replay.test.ts) then replays every fixture against the current code.
 *
 *   npm run record-histories                           every type
 *   npm run record-histories -- --types backup,pitrRestore
 *   npm run record-histories -- --from-workflow-id <id> [--run-id <id>] [--variant <name>]
 *   options: --config <pgdr.yaml> (default .pgdr-stack/test/pgdr.yaml), --out <dir>
 *
 * The runs come from the tests: run the tests of a workflow (`npm run test:only -- test/workflows/x`)
 * against the test stack (`npm run stack:up`) first when it has no recent runs.
 *
 * After an intentional workflow change the replay test fails on the old fixtures. Two cases:
 * - Runs of the old code may still be in flight somewhere (a deployed worker, a long drill, a
 *   lock held by a running backup): do NOT re-record. Make the change replay-safe instead:
 *   branch on `patched('<change-id>')` (later `deprecatePatch`) or start a new workflow type,
 *   so the old histories, and these fixtures, keep replaying. The failing test is the point.
 * - Nothing of the old code can be running (unreleased code, or every old run has closed): run
 *   the workflow's tests to make fresh runs, then `npm run record-histories -- --types <type>`
 *   and commit the new fixtures together with the change.
 *
 * A history is written only if it replays against the current code (a run of older code that
 * no longer does is skipped for the next newest, and the skip is printed), is under 2 MB, and
 * holds no value from the stack's secrets directory, plain or inside a base64 payload. A secret
 * fails the script: it means a workflow put one into its history.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import proto, { type temporal } from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root.js';
import { repoRoot } from './stack/layout.js';
import { workflowsPath } from '../worker/workers.js';
import * as workflows from '../workflows/index.js';

type History = temporal.api.history.v1.IHistory;
/** What the log and the errors say about a run (a list entry or a description). */
interface Run {
  workflowId: string;
  runId: string;
  closeTime?: Date;
}

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): History;
}
// The JSON of historyToJSON/historyFromJSON (@temporalio/common/lib/proto-utils), the format of
// `temporal workflow show --output json`. Those two throw "type must be a Type" here: npm gives
// @temporalio/common and @temporalio/proto each a copy of protobufjs 8 (the hoisted one is
// grpc's protobufjs 7), and protojson checks `instanceof Type` against its own copy. So the
// protojson of the copy that built the proto root does the same conversion.
const protojson = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'))('protobufjs/ext/protojson') as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

/** A history as fixture JSON: what historyToJSON writes. */
export function historyToJson(history: History): string {
  return JSON.stringify(protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
}

/** A fixture back into a history for Worker.runReplayHistory: what historyFromJSON reads. */
export function historyFromJson(json: string): History {
  return protojson.fromJson(historyType, JSON.parse(json), { ignoreUnknownFields: true });
}

const maxBytes = 2 * 1024 * 1024;
/** Closed runs looked at per wanted fixture before giving up (newest first). */
const maxCandidates = 200;

/** One fixture to record: the newest run of this type with this status that matches. */
interface FixtureSpec {
  type: string;
  /** ExecutionStatus in the list query. */
  status: 'Completed' | 'Failed' | 'Canceled';
  variant?: string;
  match?: (history: History) => boolean;
}

const activityNames = (h: History) => (h.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
const usesPgbackrest = (h: History) => activityNames(h).some((n) => n.startsWith('pgbackrest'));
const isNative = (h: History) => !usesPgbackrest(h);

/** Failure paths that matter get a failed fixture too; the pgBackRest method runs other steps. */
function specsFor(type: string): FixtureSpec[] {
  switch (type) {
    case 'backup':
      return [
        { type, status: 'Completed', match: isNative },
        { type, status: 'Completed', variant: 'pgbackrest', match: usesPgbackrest },
        { type, status: 'Failed' },
      ];
    case 'pitrRestore':
      return [
        { type, status: 'Completed', match: isNative },
        { type, status: 'Completed', variant: 'pgbackrest', match: usesPgbackrest },
        { type, status: 'Failed' },
        // Cancellation runs the compensation stack in a non-cancellable scope.
        { type, status: 'Canceled' },
      ];
    case 'restoreDrill':
    case 'walArchiveCheck':
    case 'dropRestore':
    case 'copyBackup':
      return [
        { type, status: 'Completed' },
        { type, status: 'Failed' },
      ];
    case 'expireBackups':
      // A dry run stops after planning; the real one deletes.
      return [{ type, status: 'Completed', match: (h) => activityNames(h).includes('applyExpiry') }];
    default:
      return [{ type, status: 'Completed' }];
  }
}

/** The fixture name: <workflowType>-<completed|failed|cancelled>[-<variant>].json */
function fixtureName(type: string, status: string, variant?: string): string {
  const s = status.toLowerCase().replace('canceled', 'cancelled').replace('timed_out', 'timed-out');
  return `${type}-${s}${variant ? `-${variant}` : ''}.json`;
}

export function workflowTypes(): string[] {
  return Object.entries(workflows)
    .filter(([, v]) => typeof v === 'function')
    .map(([k]) => k)
    .sort();
}

/** Every secret value of the stack, from its secrets directory. */
function readSecrets(dir: string): { file: string; value: string }[] {
  const secrets = readdirSync(dir).map((f) => ({ file: f, value: readFileSync(join(dir, f), 'utf8').trim() }));
  const weak = secrets.filter((s) => s.value.length < 8);
  // A short value would match by chance and prove nothing either way.
  if (weak.length > 0)
    throw new Error(`secrets ${weak.map((s) => s.file).join(', ')} in ${dir} are shorter than 8 characters: cannot scan for them reliably`);
  if (secrets.length === 0) throw new Error(`no secrets in ${dir}: expected the stack's secrets (npm run stack:up)`);
  return secrets;
}

/** Secrets found in the text, plain or in any base64 string of it (payload data is base64). */
export function findSecrets(json: string, secrets: { file: string; value: string }[]): string[] {
  const texts = [json];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.length >= 12 && v.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(v)) texts.push(Buffer.from(v, 'base64').toString('utf8'));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(JSON.parse(json));
  return secrets.filter((s) => texts.some((t) => t.includes(s.value))).map((s) => s.file);
}

interface Recorder {
  client: Client;
  bundle: WorkflowBundleWithSourceMap;
  secrets: { file: string; value: string }[];
  outDir: string;
}

type Checked = { ok: true; json: string } | { ok: false; reason: string };

/** Size, secrets and replay against the current code. A secret is fatal, the rest a reason to skip. */
async function check(r: Recorder, run: Run, history: History): Promise<Checked> {
  const json = historyToJson(history);
  const leaked = findSecrets(json, r.secrets);
  if (leaked.length > 0)
    throw new Error(
      `history of ${run.workflowId} (run ${run.runId}) contains the secret(s) ${leaked.join(', ')}: a workflow put a secret into its history`,
    );
  if (json.length > maxBytes) return { ok: false, reason: `${(json.length / 1e6).toFixed(1)} MB, over ${maxBytes / 1024 / 1024} MB` };
  try {
    await Worker.runReplayHistory({ workflowBundle: r.bundle, replayName: 'record-histories' }, history, run.workflowId);
  } catch (err) {
    return {
      ok: false,
      reason: `does not replay against the current code: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    };
  }
  return { ok: true, json };
}

function write(r: Recorder, name: string, json: string, run: Run): void {
  const file = join(r.outDir, name);
  writeFileSync(file, json + '\n');
  console.log(
    `recorded ${name.padEnd(40)} ${(json.length / 1024).toFixed(0).padStart(6)} KiB  ${run.workflowId} (run ${run.runId}, closed ${run.closeTime?.toISOString() ?? '?'})`,
  );
}

/** The newest run of the spec that passes the checks; false when none did. */
async function recordSpec(r: Recorder, spec: FixtureSpec): Promise<boolean> {
  const name = fixtureName(spec.type, spec.status, spec.variant);
  const query = `WorkflowType = '${spec.type}' AND ExecutionStatus = '${spec.status}'`;
  const skipped: string[] = [];
  let seen = 0;
  // Visibility lists closed runs newest first.
  for await (const run of r.client.workflow.list({ query, pageSize: 50 })) {
    if (++seen > maxCandidates) break;
    const history = await r.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    if (spec.match && !spec.match(history)) continue;
    const checked = await check(r, run, history);
    if (checked.ok) {
      write(r, name, checked.json, run);
      if (skipped.length > 0)
        console.log(`  (skipped ${skipped.length} newer run(s): ${skipped.slice(0, 3).join('; ')}${skipped.length > 3 ? '; …' : ''})`);
      return true;
    }
    skipped.push(`${run.workflowId}: ${checked.reason}`);
  }
  const why =
    seen === 0
      ? `no run matches ${query}`
      : `none of the ${Math.min(seen, maxCandidates)} newest runs (${query}) ${spec.match ? 'matched and ' : ''}passed the checks${skipped.length > 0 ? `; e.g. ${skipped[0]}` : ''}`;
  console.warn(`NOT recorded ${name}: ${why}\n  HINT: run the tests of ${spec.type} against the test stack to make a fresh run.`);
  return false;
}

async function recordOne(r: Recorder, workflowId: string, runId: string | undefined, variant: string | undefined): Promise<void> {
  const handle = r.client.workflow.getHandle(workflowId, runId);
  const run = await handle.describe();
  if (run.status.name === 'RUNNING' || run.status.name === 'CONTINUED_AS_NEW')
    throw new Error(`workflow ${workflowId} is ${run.status.name.toLowerCase()}: expected a closed run`);
  if (!workflowTypes().includes(run.type))
    throw new Error(`workflow ${workflowId} is a ${run.type}: expected one of ${workflowTypes().join(', ')}`);
  const checked = await check(r, run, await handle.fetchHistory());
  if (!checked.ok) throw new Error(`workflow ${workflowId} (run ${run.runId}) ${checked.reason}`);
  write(r, fixtureName(run.type, run.status.name, variant), checked.json, run);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      types: { type: 'string' },
      'from-workflow-id': { type: 'string' },
      'run-id': { type: 'string' },
      variant: { type: 'string' },
      config: { type: 'string', default: join(repoRoot, '.pgdr-stack', 'test', 'pgdr.yaml') },
      out: { type: 'string', default: join(repoRoot, 'test', 'fixtures', 'histories') },
    },
  });
  const all = workflowTypes();
  const types = values.types
    ? values.types
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean)
    : all;
  for (const t of types)
    if (!all.includes(t))
      throw new Error(`--types names "${t}": expected workflow types from workflows/index.ts, one of ${all.join(', ')}`);
  if (values.variant && !/^[a-z0-9-]+$/.test(values.variant))
    throw new Error(`--variant is "${values.variant}": expected lowercase letters, digits and dashes`);

  // 1. The stack: Temporal's address and the secrets the histories must not contain.
  const configPath = resolve(values.config);
  const raw = parse(readFileSync(configPath, 'utf8')) as { temporal?: { address?: string; namespace?: string } };
  const address = raw.temporal?.address;
  if (!address) throw new Error(`temporal.address is missing in ${configPath}`);
  const secrets = readSecrets(join(dirname(configPath), 'secrets'));
  mkdirSync(values.out, { recursive: true });

  // 2. The current workflow code, bundled once for every replay check (each starts a worker: no INFO chatter).
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: quiet as never });
  const connection = await Connection.connect({ address });
  const r: Recorder = {
    client: new Client({ connection, namespace: raw.temporal?.namespace ?? 'default' }),
    bundle,
    secrets,
    outDir: values.out,
  };
  const missing: string[] = [];
  try {
    // 3. Record: one given run, or the wanted runs of every type asked for.
    if (values['from-workflow-id']) await recordOne(r, values['from-workflow-id'], values['run-id'], values.variant);
    else
      for (const t of types)
        for (const spec of specsFor(t)) if (!(await recordSpec(r, spec))) missing.push(fixtureName(spec.type, spec.status, spec.variant));
  } finally {
    await connection.close();
  }

  // 4. Scan every fixture in the directory again, including ones recorded earlier.
  const files = readdirSync(values.out).filter((f) => f.endsWith('.json'));
  const leaks = files.flatMap((f) =>
    findSecrets(readFileSync(join(values.out, f), 'utf8'), secrets).map((s) => `${f} contains the secret ${s}`),
  );
  if (leaks.length > 0) throw new Error(`${leaks.join('; ')}\nHINT: delete those fixtures; a workflow put a secret into its history`);
  const uncovered = (values['from-workflow-id'] ? [] : types).filter((t) => !files.some((f) => f.startsWith(`${t}-`)));
  if (missing.length > 0) console.warn(`not recorded: ${missing.join(', ')}`);
  if (uncovered.length > 0) {
    const msg = `no fixture for ${uncovered.join(', ')} in ${values.out}\nHINT: run their tests against the test stack, then record again with --types ${uncovered.join(',')}`;
    // Types asked for by name must be recorded; in a full run the replay test's allow-list decides.
    if (values.types) throw new Error(msg);
    console.warn(msg);
  }
  console.log(`${files.length} fixtures in ${values.out}, none with a secret`);
}

if (process.argv[1]?.endsWith('scripts/record-histories.ts')) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`record-histories: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
