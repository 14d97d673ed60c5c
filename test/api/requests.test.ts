/**
 * Request hygiene of the API, on the real stack (Temporal): query parameters a route does not
 * declare are refused before anything starts, deep JSON is refused before it is parsed, every
 * refusal (Fastify's and Node's own included) is in pgdr's envelope, and free text (schedule
 * notes) is stored as given but printed escaped by the CLI.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { maxHeaderSize } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { clients, testCluster } from '../helpers/cluster.js';
import { allRoutes } from '../../api/server.js';
import { MAX_JSON_DEPTH } from '../../api/json.js';
import { reconcileSchedules } from '../../control/schedules.js';
import { parseConfig } from '../../config/load.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import { countWorkflows, securityApi, TEST_TOKEN, type Sent } from '../security/helpers.js';

/** Every refusal is { error: { code, message } } with a pgdr code, nothing of Fastify's own shape. */
function expectEnvelope(res: Sent, status: number, code: string): void {
  expect(res.status, res.text).toBe(status);
  expect(res.body?.error?.code, res.text).toBe(code);
  expect(typeof res.body.error.message).toBe('string');
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(res.text).not.toMatch(/FST_|"statusCode"/);
}

/** {"a":{"a":...1...}} nested depth times: small, but deep. */
const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

describe('request hygiene', () => {
  const tc = testCluster('apireq', (cl) => (cl.backup = { ...cl.backup, schedules: { nightly: { type: 'full', cron: '0 3 * * *' } } }));
  let c: Awaited<ReturnType<typeof clients>>;
  let api: ReturnType<typeof securityApi>;
  let url: string;
  const started: string[] = [];

  beforeAll(async () => {
    c = await clients(tc);
    api = securityApi(tc, c.temporal, c.s3);
    url = await api.listen();
  });
  afterAll(async () => {
    // On code that ignored the query, the refused requests started workflows: never leave them behind.
    const list = c?.temporal.workflow.list({ query: `PgdrCluster = '${tc.name}' AND ExecutionStatus = 'Running'` });
    for await (const w of list ?? []) started.push(w.workflowId);
    for (const id of started)
      await c.temporal.workflow
        .getHandle(id)
        .terminate('request hygiene test done')
        .catch(() => undefined);
    const none = JSON.parse(JSON.stringify(tc.config));
    none.clusters[tc.name].backup.schedules = {};
    if (c) await reconcileSchedules(c.temporal, parseConfig(none), [tc.name]);
    await api?.close();
    await c?.close();
  });

  describe('query parameters', () => {
    it('POST expire?dryRun=true and POST backups?type=diff&dryRun=true answer 400 naming the parameter, and start no workflow', async () => {
      expect(await countWorkflows(c.temporal, [tc.name])).toBe(0);
      const expire = await api.send({ method: 'POST', url: `/api/v1/clusters/${tc.name}/expire?dryRun=true`, body: {} });
      expectEnvelope(expire, 400, 'BAD_REQUEST');
      expect(expire.body.error.fields).toEqual([{ field: 'query', message: 'unrecognized key: "dryRun"' }]);
      const backup = await api.send({ method: 'POST', url: `/api/v1/clusters/${tc.name}/backups?type=diff&dryRun=true`, body: {} });
      expectEnvelope(backup, 400, 'BAD_REQUEST');
      expect(backup.body.error.message).toContain('"type"');
      expect(backup.body.error.message).toContain('"dryRun"');
      // Visibility lags a little behind a start: give a stray start time to show up.
      await new Promise((r) => setTimeout(r, 2500));
      expect(await countWorkflows(c.temporal, [tc.name])).toBe(0);
    });

    it('POST backups with a bad "from" answers 400 naming body.from and the valid values, and starts nothing', async () => {
      const bad = await api.send({ method: 'POST', url: `/api/v1/clusters/${tc.name}/backups`, body: { from: 'sideways' } });
      expectEnvelope(bad, 400, 'BAD_REQUEST');
      expect(bad.body.error.fields).toEqual([{ field: 'body.from', message: expect.stringMatching(/"primary".*"standby".*sideways/) }]);
      await new Promise((r) => setTimeout(r, 2500));
      expect(await countWorkflows(c.temporal, [tc.name])).toBe(0);
    });

    it('every route the API serves refuses a query parameter it does not declare, before doing anything', async () => {
      const fill = (path: string) =>
        path
          .replace(':cluster', tc.name)
          .replace(':node', 'replica')
          .replace(':name', 'nightly')
          .replace(':id', '20261120T224745224Z')
          .replace('*', `backup/${tc.name}/2020-01-01T00-00-00-000Z`);
      for (const r of allRoutes) {
        const res = await api.send({ method: r.method, url: `${fill(r.path)}?sneaky=1`, ...(r.method === 'POST' ? { body: {} } : {}) });
        expect(res.status, `${r.method} ${r.path}: ${res.text}`).toBe(400);
        expect(res.body.error.fields, `${r.method} ${r.path}`).toEqual([{ field: 'query', message: 'unrecognized key: "sneaky"' }]);
      }
      await new Promise((r) => setTimeout(r, 2500));
      expect(await countWorkflows(c.temporal, [tc.name])).toBe(0);
    });

    it('a start without the query parameter is counted (the count above can see a start)', async () => {
      const res = await api.send({ method: 'POST', url: `/api/v1/clusters/${tc.name}/expire`, body: { dryRun: true } });
      expect(res.status, res.text).toBe(202);
      started.push(res.body.workflowId);
      const deadline = Date.now() + 15_000;
      while ((await countWorkflows(c.temporal, [tc.name])) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
      expect(await countWorkflows(c.temporal, [tc.name])).toBe(1);
    });
  });

  describe('deep JSON', () => {
    it(`5000 nested objects under the body limit answer 400 JSON_TOO_DEEP naming the limit of ${MAX_JSON_DEPTH}`, async () => {
      const body = nested(5000);
      expect(body.length).toBeLessThan(tc.config.api.bodyLimitBytes);
      const res = await api.send({ method: 'POST', url: `/api/v1/clusters/${tc.name}/expire`, body, contentType: 'application/json' });
      expectEnvelope(res, 400, 'JSON_TOO_DEEP');
      expect(res.body.error).toMatchObject({
        limit: MAX_JSON_DEPTH,
        message: `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`,
      });
    });

    it('5000 nested arrays, and brackets hidden in strings do not count', async () => {
      const arrays = await api.send({
        method: 'POST',
        url: `/api/v1/clusters/${tc.name}/expire`,
        body: `${'['.repeat(5000)}${']'.repeat(5000)}`,
        contentType: 'application/json',
      });
      expectEnvelope(arrays, 400, 'JSON_TOO_DEEP');
      // A note of 200 "{" characters is a string, not nesting: it reaches validation.
      const inString = await api.send({
        method: 'POST',
        url: `/api/v1/clusters/${tc.name}/schedules/nosuch/pause`,
        body: { note: `"\\${'{['.repeat(100)}` },
      });
      expectEnvelope(inString, 404, 'UNKNOWN_SCHEDULE');
    });

    it(`JSON nested exactly ${MAX_JSON_DEPTH} deep is parsed and reaches validation`, async () => {
      const res = await api.send({
        method: 'POST',
        url: `/api/v1/clusters/${tc.name}/expire`,
        body: nested(MAX_JSON_DEPTH),
        contentType: 'application/json',
      });
      expectEnvelope(res, 400, 'BAD_REQUEST');
      expect(res.body.error.fields.map((f: { field: string }) => f.field)).toEqual(['body']);
    });

    it('an anonymous deep or malformed body answers 401: the token is checked before the body is read', async () => {
      for (const body of [nested(5000), '{"dryRun": ', `${'['.repeat(5000)}${']'.repeat(5000)}`]) {
        const res = await api.send({
          method: 'POST',
          url: `/api/v1/clusters/${tc.name}/expire`,
          body,
          contentType: 'application/json',
          authorization: null,
        });
        expectEnvelope(res, 401, 'UNAUTHORIZED');
      }
    });
  });

  describe("Fastify's and Node's own refusals", () => {
    const E = () => `/api/v1/clusters/${tc.name}/expire`;
    it('malformed JSON answers 400 INVALID_JSON saying where', async () => {
      const res = await api.send({ method: 'POST', url: E(), body: '{"dryRun": ', contentType: 'application/json' });
      expectEnvelope(res, 400, 'INVALID_JSON');
      expect(res.body.error.message).toMatch(/^body: not valid JSON: /);
    });

    it('a __proto__ key answers 400 INVALID_JSON naming it', async () => {
      const res = await api.send({ method: 'POST', url: E(), body: '{"__proto__": {"admin": true}}', contentType: 'application/json' });
      expectEnvelope(res, 400, 'INVALID_JSON');
      expect(res.body.error.message).toBe('body: a "__proto__" or "constructor.prototype" key is not accepted');
    });

    it('an empty JSON body answers 400 INVALID_JSON', async () => {
      expectEnvelope(await api.send({ method: 'POST', url: E(), body: '', contentType: 'application/json' }), 400, 'INVALID_JSON');
    });

    it('a body over api.bodyLimitBytes answers 413 BODY_TOO_LARGE naming the limit', async () => {
      const res = await api.send({ method: 'POST', url: E(), body: { dryRun: true, pad: 'x'.repeat(tc.config.api.bodyLimitBytes) } });
      expectEnvelope(res, 413, 'BODY_TOO_LARGE');
      expect(res.body.error).toMatchObject({
        limitBytes: tc.config.api.bodyLimitBytes,
        message: `body: over the limit of ${tc.config.api.bodyLimitBytes} bytes (api.bodyLimitBytes)`,
      });
    });

    it('a path parameter over 100 characters answers 414 URI_TOO_LONG', async () => {
      const res = await api.send({ method: 'GET', url: `/api/v1/clusters/${'a'.repeat(101)}/status` });
      expectEnvelope(res, 414, 'URI_TOO_LONG');
      expect(res.body.error.message).toBe('path: a path parameter is over 100 characters');
    });

    it('a form-encoded body answers 415 UNSUPPORTED_MEDIA_TYPE naming the content type', async () => {
      const res = await api.send({ method: 'POST', url: E(), body: 'dryRun=true', contentType: 'application/x-www-form-urlencoded' });
      expectEnvelope(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(res.body.error.message).toBe(
        'body: content-type "application/x-www-form-urlencoded" is not accepted: expected application/json',
      );
    });

    it('an unknown route answers 404 NOT_FOUND without its query string', async () => {
      const res = await api.send({ method: 'GET', url: '/api/v2/nothing?token=abc' });
      expectEnvelope(res, 404, 'NOT_FOUND');
      expect(res.body.error.message).toBe('no route GET /api/v2/nothing');
    });

    it('a known path with another method answers 405 METHOD_NOT_ALLOWED with an allow header', async () => {
      const res = await api.send({ method: 'DELETE', url: `/api/v1/clusters/${tc.name}/backups` });
      expectEnvelope(res, 405, 'METHOD_NOT_ALLOWED');
      expect(res.headers.allow).toBe('GET, HEAD, POST');
      expect(res.body.error.message).toBe(`no route DELETE /api/v1/clusters/${tc.name}/backups: it answers GET, HEAD, POST`);
    });

    it('a bad %-escape in the path answers 400 BAD_REQUEST naming the path', async () => {
      const res = await api.send({ method: 'GET', url: '/api/v1/clusters/%zz/status' });
      expectEnvelope(res, 400, 'BAD_REQUEST');
      expect(res.body.error.message).toContain('"/api/v1/clusters/%zz/status"');
    });

    it('a request line over http.maxHeaderSize answers 431 HEADERS_TOO_LARGE from a real socket', async () => {
      const res = await fetch(`${url}/api/v1/clusters/${tc.name}/status?x=${'a'.repeat(20_000)}`, {
        headers: { authorization: `Bearer ${TEST_TOKEN}` },
      });
      const text = await res.text();
      expect(res.status, text).toBe(431);
      expect(JSON.parse(text)).toEqual({
        error: {
          code: 'HEADERS_TOO_LARGE',
          message: `request: the request line and headers are over ${maxHeaderSize} bytes`,
          limitBytes: maxHeaderSize,
        },
      });
    });

    it('a malformed HTTP request answers 400 BAD_REQUEST in the envelope from a real socket', async () => {
      const { port } = new URL(url);
      const text = await new Promise<string>((resolve, reject) => {
        const s = connect(Number(port), '127.0.0.1', () => s.write('GARBAGE\r\n\r\n'));
        let out = '';
        s.on('data', (d) => (out += d.toString()));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
      expect(text).toMatch(/^HTTP\/1\.1 400 /);
      expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('BAD_REQUEST');
    });
  });

  describe('free text', () => {
    const note = 'nul\u0000 cr\r lf\n esc\u001b[31mred\u001b[0m csi\u009b2J del\u007f rtl\u202eevil';
    const pgdr = (args: string[]) =>
      execa(join(repoRoot, 'bin/pgdr'), args, {
        env: { PGDR_API_URL: url, PGDR_API_TOKEN: TEST_TOKEN, PGDR_CONFIG: inject('configPath') },
        reject: false,
      });

    beforeAll(async () => {
      await reconcileSchedules(c.temporal, tc.config, [tc.name]);
    });

    it('a schedule note with NUL, CR, LF, ESC, C1, DEL and a bidi override is stored exactly as given', async () => {
      const paused = await api.send({ method: 'POST', url: `/api/v1/clusters/${tc.name}/schedules/nightly/pause`, body: { note } });
      expect(paused.status, paused.text).toBe(200);
      expect(paused.body.note).toBe(note);
      const listed = await api.send({ method: 'GET', url: `/api/v1/clusters/${tc.name}/schedules` });
      expect(listed.body.schedules[0].note).toBe(note);
    });

    it('pgdr schedules prints the note with every control character escaped, and --json keeps it exact', async () => {
      const res = await pgdr(['schedules', tc.name]);
      expect(res.exitCode, res.stderr).toBe(0);
      expect(res.stdout).toContain('nul\\x00 cr\\r lf\\n esc\\x1b[31mred\\x1b[0m csi\\x9b2J del\\x7f rtl\\u202eevil');
      // Nothing a terminal acts on: no C0 but the line breaks between rows, no DEL, C1 or bidi override.
      expect(res.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      expect(res.stdout.split('\n')).toHaveLength(2);
      const json = await pgdr(['schedules', tc.name, '--json']);
      expect(json.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      expect(JSON.parse(json.stdout).schedules[0].note).toBe(note);
    });

    it('pgdr schedule pause prints the schedule it paused with the note escaped', async () => {
      const res = await pgdr(['schedule', 'pause', tc.name, 'nightly', '--note', 'second\u001b]0;title\u0007']);
      expect(res.exitCode, res.stderr).toBe(0);
      expect(res.stdout).toContain('second\\x1b]0;title\\x07');
      expect(res.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    });
  });
});

describe('a backup from a standby with the pgbackrest method', () => {
  const tc = testCluster('apireqpb', (cl) => void (cl.method = 'pgbackrest'));
  let c: Awaited<ReturnType<typeof clients>>;
  let api: ReturnType<typeof securityApi>;

  beforeAll(async () => {
    c = await clients(tc);
    api = securityApi(tc, c.temporal, c.s3);
    await api.listen();
  });
  afterAll(async () => {
    await api?.close();
    await c?.close();
  });

  it('is refused with 400 naming body.from (pgBackRest backs up from the primary only), before anything starts', async () => {
    const res = await api.send({ method: 'POST', url: `/api/v1/clusters/${tc.name}/backups`, body: { from: 'standby' } });
    expectEnvelope(res, 400, 'BAD_REQUEST');
    expect(res.body.error.fields).toEqual([
      { field: 'body.from', message: 'expected "primary": the pgbackrest method backs up from the primary only (got "standby")' },
    ]);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await countWorkflows(c.temporal, [tc.name])).toBe(0);
  });
});
