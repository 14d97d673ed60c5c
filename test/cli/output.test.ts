/**
 * What every command prints in each output mode, and the exit code it ends with: 0 done, 1 the API
 * refused, 2 a usage error (nothing asked), 3 could not ask, 4 the procedure failed, 5 warnings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeApi, runPgdr, type FakeApi } from './fakeApi.js';
import { buildProgram, commandsOf, hasAction, NO_OUTPUT_OPTION } from '../../cli/program.js';
import { EXIT, EXIT_CODES, operationExit } from '../../cli/output.js';
import type { Operation } from '../../cli/progress.js';

const C = '/api/v1/clusters';
const lsns = { startLsn: '0/2000028', stopLsn: '0/2000100' };
const manifest = { id: '20260101T000000000Z-F', bytes: 3 * 1024 * 1024, ...lsns, verification: { detail: 'verified' } };
const op = (workflowId: string, rest: Record<string, unknown>) => ({
  workflowId,
  uiUrl: `http://ui/${workflowId}`,
  progress: { step: 'done' },
  activities: [],
  ...rest,
});
const backupRow = { id: manifest.id, status: 'good', method: 'basebackup', type: 'full', parent: null, ...lsns, timeline: 1, bytes: 10 };
const status = (cluster: string, warnings: string[]) => ({
  cluster,
  primary: null,
  checkedAt: '2026-01-01T00:00:00Z',
  nodes: [],
  warnings,
  workflowId: 'w',
  uiUrl: 'http://ui/w',
});

// Slow hosts: each test spawns bin/pgdr several times.
describe('pgdr output modes and exit codes', { timeout: 600_000 }, () => {
  let api: FakeApi;
  const pgdr = (args: string[]) => runPgdr(args, { PGDR_API_URL: api.url, PGDR_API_TOKEN: 't' });

  beforeAll(async () => {
    api = await fakeApi();
    const started = (cluster: string) => ({ workflowId: `backup/${cluster}/1`, uiUrl: `http://ui/backup/${cluster}/1` });
    api.routes.set(`GET ${C}/demo/backups`, { status: 200, body: { backups: [backupRow] } });
    for (const cluster of ['demo', 'fail', 'busy']) {
      api.routes.set(`POST ${C}/${cluster}/backups`, { status: 202, body: started(cluster) });
    }
    api.routes.set('GET /api/v1/operations/backup/demo/1', {
      status: 200,
      body: op('backup/demo/1', { status: 'COMPLETED', result: { manifest } }),
    });
    api.routes.set('GET /api/v1/operations/backup/fail/1', {
      status: 200,
      body: op('backup/fail/1', {
        status: 'FAILED',
        failure: { message: 'pg_basebackup failed with exit code 1', type: 'ToolFailedError', details: null },
      }),
    });
    api.routes.set('GET /api/v1/operations/backup/busy/1', {
      status: 200,
      body: op('backup/busy/1', {
        status: 'COMPLETED',
        result: { refused: 'cluster "busy" is busy with switchover/busy/x', code: 'CLUSTER_BUSY' },
      }),
    });
    api.routes.set(`GET ${C}/demo/status`, { status: 200, body: status('demo', []) });
    api.routes.set(`GET ${C}/warn/status`, { status: 200, body: status('warn', ['replica lags 99 MiB']) });
    api.routes.set(`GET ${C}/boom/status`, { status: 500, body: { error: { code: 'INTERNAL', message: 'temporal is down' } } });
  });
  afterAll(() => api.close());

  it('gives -o/--output json|table to every command that prints an answer, procedures included', () => {
    const program = buildProgram();
    const withOutput = commandsOf(program).filter(({ cmd }) => cmd.options.some((o) => o.long === '--output'));
    for (const { path, cmd } of commandsOf(program)) {
      if (!hasAction(cmd) || NO_OUTPUT_OPTION.has(path)) continue;
      const option = cmd.options.find((o) => o.long === '--output');
      expect(option, path).toBeDefined();
      expect(option!.short).toBe('-o');
      expect(option!.argChoices).toEqual(['table', 'json']);
    }
    expect(withOutput.map((c) => c.path)).toEqual(
      expect.arrayContaining([
        ...['status', 'backup', 'restore', 'restore drop', 'drill', 'rebuild', 'switchover', 'wal check'],
        ...['expire', 'schedules', 'schedule pause', 'archive enable', 'operation', 'recovery-window'],
      ]),
    );
    expect(withOutput.length).toBeGreaterThanOrEqual(21);
  });

  it('-o json prints the answer as JSON and nothing else; table (the default) prints the table; --json still works', async () => {
    const json = await pgdr(['backups', 'demo', '-o', 'json']);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ backups: [backupRow] });
    expect((await pgdr(['backups', 'demo', '--json'])).stdout).toBe(json.stdout);
    expect((await pgdr(['backups', 'demo', '--output', 'json'])).stdout).toBe(json.stdout);
    const table = await pgdr(['backups', 'demo']);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+METHOD/);
    expect((await pgdr(['backups', 'demo', '-o', 'table'])).stdout).toBe(table.stdout);
  });

  it('a procedure started with -o json prints the 202 answer; with --wait, one document {started, operation} at the end', async () => {
    const started = await pgdr(['backup', 'demo', '-o', 'json']);
    expect(started.exitCode, started.stderr).toBe(0);
    expect(JSON.parse(started.stdout)).toEqual({ workflowId: 'backup/demo/1', uiUrl: 'http://ui/backup/demo/1' });

    const waited = await pgdr(['backup', 'demo', '--wait', '-o', 'json']);
    expect(waited.exitCode, waited.stderr).toBe(0);
    const doc = JSON.parse(waited.stdout);
    expect(doc.started.workflowId).toBe('backup/demo/1');
    expect(doc.operation).toMatchObject({ status: 'COMPLETED', result: { manifest } });
    expect(waited.stderr).toBe('done');

    const table = await pgdr(['backup', 'demo', '--wait']);
    expect(table.stdout).toBe(
      'started backup/demo/1\n  http://ui/backup/demo/1\nbackup 20260101T000000000Z-F: 3.0 MiB, lsn 0/2000028-0/2000100, verified',
    );
  });

  it('a procedure that failed exits 4, one that lost the cluster lock exits 1, in both modes', async () => {
    for (const mode of ['json', 'table']) {
      const failed = await pgdr(['backup', 'fail', '--wait', '-o', mode]);
      expect(failed.exitCode, failed.stderr).toBe(4);
      expect(failed.stderr).toContain('pgdr: backup/fail/1 failed: pg_basebackup failed with exit code 1');
      const operation = { status: 'FAILED', failure: { type: 'ToolFailedError' } };
      if (mode === 'json') expect(JSON.parse(failed.stdout).operation).toMatchObject(operation);
      else expect(failed.stdout).toBe('started backup/fail/1\n  http://ui/backup/fail/1');

      const busy = await pgdr(['backup', 'busy', '--wait', '-o', mode]);
      expect(busy.exitCode, busy.stderr).toBe(1);
      expect(busy.stderr).toContain('pgdr: backup/busy/1 refused: cluster "busy" is busy with switchover/busy/x');
    }
  });

  it("an API refusal exits 1: in json mode the API's error is the answer on stdout, in table mode stdout stays empty", async () => {
    const json = await pgdr(['status', 'nosuch', '-o', 'json']);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'NOT_FOUND', message: `no route GET ${C}/nosuch/status` } });
    expect(json.stderr).toBe(`pgdr: no route GET ${C}/nosuch/status`);
    const table = await pgdr(['status', 'nosuch']);
    expect(table.exitCode).toBe(1);
    expect(table.stdout).toBe('');
  });

  it('exits 3 when the API fails (5xx) and 5 when the status has warnings', async () => {
    const boom = await pgdr(['status', 'boom']);
    expect(boom.exitCode).toBe(3);
    expect(boom.stderr).toBe('pgdr: temporal is down');
    const warn = await pgdr(['status', 'warn', '-o', 'json']);
    expect(warn.exitCode).toBe(5);
    expect(JSON.parse(warn.stdout).warnings).toEqual(['replica lags 99 MiB']);
    expect((await pgdr(['status', 'demo'])).exitCode).toBe(0);
  });

  const usage: { args: string[]; says: string[] }[] = [
    { args: [], says: ['Usage: pgdr [options] [command]'] },
    { args: ['nosuch'], says: ["pgdr: unknown command 'nosuch'", 'HINT: pgdr --help'] },
    { args: ['stauts', 'demo'], says: ["unknown command 'stauts'", 'Did you mean status?'] },
    { args: ['status'], says: ["pgdr status: missing required argument 'cluster'", 'HINT: pgdr status --help'] },
    { args: ['status', 'demo', '--bogus'], says: ["pgdr status: unknown option '--bogus'"] },
    {
      args: ['backup', 'demo', '-o', 'xml'],
      says: ["pgdr backup: option '-o, --output <format>' argument 'xml' is invalid.", 'Allowed choices are table, json.'],
    },
    { args: ['backup', 'demo', '--json', '-o', 'table'], says: ['pgdr: --json and -o table disagree: expected one output format'] },
    { args: ['switchover', 'demo'], says: ["required option '--candidate <node>' not specified"] },
    { args: ['schedule'], says: ['Usage: pgdr schedule [options] [command]'] },
    { args: ['schedule', 'pause', 'demo'], says: ["missing required argument 'name'"] },
    { args: ['completion', 'fish'], says: ["value 'fish' is invalid for argument 'shell'", 'Allowed choices are bash, zsh'] },
    {
      args: ['--api-url', 'localhost:8484', 'status', 'demo'],
      says: ["argument 'localhost:8484' is invalid.", 'expected an http or https URL such as http://127.0.0.1:8484'],
    },
    { args: ['--api-url', 'http://admin:pw@127.0.0.1:8484', 'status', 'demo'], says: ['without a user or password'] },
  ];

  it.each(usage)('pgdr $args is a usage error: exit 2, nothing on stdout, nothing asked', async ({ args, says }) => {
    const before = api.requests.length;
    const res = await pgdr(args);
    expect(res.exitCode, res.stderr).toBe(2);
    expect(res.stdout).toBe('');
    for (const s of says) expect(res.stderr).toContain(s);
    expect(api.requests.length).toBe(before);
  });

  it('--help and --version exit 0, and --help lists every exit code and the environment', async () => {
    const help = await pgdr(['--help']);
    expect(help.exitCode).toBe(0);
    for (const e of EXIT_CODES) expect(help.stdout).toContain(`  ${e.code}  ${e.meaning.split(' ').slice(0, 4).join(' ')}`);
    for (const v of ['PGDR_API_URL', 'PGDR_API_TOKEN_FILE', 'PGDR_API_TOKEN', 'PGDR_CONFIG', 'pgdr completion bash']) {
      expect(help.stdout).toContain(v);
    }
    expect((await pgdr(['status', '--help'])).stdout).toContain('-o, --output <format>');
    const version = await pgdr(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout).toBe('0.1.0');
  });
});

describe('the exit code of a followed operation', () => {
  const op = (o: Partial<Operation>): Operation => ({ workflowId: 'w', uiUrl: 'u', status: 'COMPLETED', ...o }) as Operation;
  const failed = (code: string) => op({ status: 'FAILED', failure: { message: 'm', type: 'T', details: [{ code }] } });

  it('is 1 for a run its precondition step refused (a 4xx code), 4 for a run that failed, 0 when it completed', () => {
    expect(operationExit(failed('RESTORE_PREFLIGHT_FAILED'))).toBe(EXIT.refused);
    expect(operationExit(failed('REPLICATION_PRECONDITION_FAILED'))).toBe(EXIT.refused);
    expect(operationExit(failed('DESTINATION_BUSY'))).toBe(EXIT.refused);
    expect(operationExit(failed('RECOVERY_TARGET_MISSED'))).toBe(EXIT.failed);
    expect(operationExit(failed('TOOL_FAILED'))).toBe(EXIT.failed);
    expect(operationExit(op({ status: 'FAILED' }))).toBe(EXIT.failed);
    expect(operationExit(op({ status: 'CANCELLED', failure: { message: 'm', type: null, details: [{ code: 'CLUSTER_BUSY' }] } }))).toBe(
      EXIT.failed,
    );
    expect(operationExit(op({ result: { ok: true } }))).toBe(EXIT.ok);
  });
});
