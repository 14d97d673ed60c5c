/**
 * Every route but /healthz needs the bearer token. A missing, wrong or differently-schemed
 * token gets 401 before anything else happens (no validation, no workflow), and the answer
 * never echoes what was presented. The comparison hashes both sides, so a token of another
 * length or one differing only in its last byte goes through the same fixed-size compare
 * (asserted by what is compared, not by timing, which is too noisy on two cores).
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { clients, testCluster } from '../helpers/cluster.js';
import { allRoutes } from '../../api/server.js';
import { tokenMatches } from '../../api/auth.js';
import { openApiPath } from '../../api/openapi.js';
import { countWorkflows, securityApi, TEST_TOKEN } from './helpers.js';

const compared = vi.hoisted(() => ({ calls: [] as [number, number][] }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      compared.calls.push([a.byteLength, b.byteLength]);
      return actual.timingSafeEqual(a, b);
    },
  };
});

/** Authorization headers that must all be refused; null sends none. */
const wrong: { what: string; header: string | null }[] = [
  { what: 'no header', header: null },
  { what: 'an empty header', header: '' },
  { what: 'the scheme alone', header: 'Bearer' },
  { what: 'the scheme and a space', header: 'Bearer ' },
  { what: 'the token without a scheme', header: TEST_TOKEN },
  { what: 'the token as Basic credentials', header: `Basic ${Buffer.from(`pgdr:${TEST_TOKEN}`).toString('base64')}` },
  { what: 'the token under another scheme', header: `Token ${TEST_TOKEN}` },
  { what: 'the token after two spaces', header: `Bearer  ${TEST_TOKEN}` },
  { what: 'the token in upper case', header: `Bearer ${TEST_TOKEN.toUpperCase()}` },
  { what: 'a token differing in its last byte', header: `Bearer ${TEST_TOKEN.slice(0, -1)}m` },
  { what: 'a token differing in its first byte', header: `Bearer u${TEST_TOKEN.slice(1)}` },
  { what: 'a prefix of the token', header: `Bearer ${TEST_TOKEN.slice(0, -1)}` },
  { what: 'the token plus one byte', header: `Bearer ${TEST_TOKEN}0` },
  { what: 'a one-byte token', header: 'Bearer t' },
  { what: 'a 64 KiB token', header: `Bearer ${'t'.repeat(65536)}` },
  { what: 'the token twice', header: `Bearer ${TEST_TOKEN}, Bearer ${TEST_TOKEN}` },
];

describe('authentication', () => {
  const tc = testCluster('secauth');
  let c: Awaited<ReturnType<typeof clients>>;
  let api: ReturnType<typeof securityApi>;

  /** A concrete URL for a route of the table, on the test's cluster. */
  const urlOf = (path: string) =>
    path
      .replace(':cluster', tc.name)
      .replace(':node', 'replica')
      .replace(':name', 'nightly')
      .replace(':id', '20260101T000000000Z')
      .replace('*', `backup/${tc.name}/2026-01-01T00-00-00-000Z`);
  const guarded = allRoutes.filter((r) => r.path !== '/healthz');

  beforeAll(async () => {
    c = await clients(tc);
    api = securityApi(tc, c.temporal, c.s3);
  });
  afterAll(async () => {
    await api?.close();
    await c?.close();
  });

  it('guards every route but /healthz, which declares auth: false', () => {
    expect(allRoutes.filter((r) => r.auth === false).map((r) => r.path)).toEqual(['/healthz']);
    expect(guarded.length).toBe(allRoutes.length - 1);
    expect(guarded.length).toBeGreaterThanOrEqual(21);
  });

  it.each(guarded.map((r) => ({ route: `${r.method} ${r.path}`, method: r.method, path: r.path })))(
    '$route answers 401 to every wrong token, echoing none',
    async ({ method, path }) => {
      const methods = method === 'GET' ? ['GET', 'HEAD'] : [method];
      for (const m of methods) {
        for (const { what, header } of wrong) {
          // A POST body that would fail validation: 401 must come first and say nothing about it.
          const res = await api.send({
            method: m,
            url: urlOf(path),
            authorization: header,
            ...(m === 'POST' ? { body: { bogus: 1 } } : {}),
          });
          expect(res.status, `${m} ${what}: ${res.text}`).toBe(401);
          expect(res.headers['www-authenticate']).toBe('Bearer');
          if (m === 'HEAD') continue;
          expect(res.body, what).toEqual({ error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } });
          expect(res.text).not.toContain(TEST_TOKEN.slice(0, 6));
          const presented = header?.split(' ').at(-1) ?? '';
          if (presented.length >= 4) expect(res.text).not.toContain(presented);
        }
      }
    },
  );

  it('lets the right token through (the same requests are not refused for auth)', async () => {
    for (const r of guarded.filter((x) => x.method === 'GET')) {
      const res = await api.send({ method: 'GET', url: `${urlOf(r.path)}${r.path.endsWith('/status') ? '?maxLagBytes=-1' : ''}` });
      expect(res.status, `${r.path}: ${res.text}`).not.toBe(401);
    }
    expect((await api.send({ method: 'GET', url: '/metrics', authorization: `bearer ${TEST_TOKEN}` })).status).toBe(200);
  });

  it('started no workflow for any refused request', async () => {
    await new Promise((r) => setTimeout(r, 2500));
    expect(await countWorkflows(c.temporal, [tc.name])).toBe(0);
  });

  it('answers /healthz without the right token with bare booleans only', async () => {
    for (const header of [null, `Bearer ${TEST_TOKEN}x`]) {
      const res = await api.send({ method: 'GET', url: '/healthz', authorization: header });
      expect([200, 503]).toContain(res.status);
      expect(Object.keys(res.body).sort()).toEqual(['nodes', 'ok', 'storage', 'temporal']);
      for (const v of Object.values(res.body)) expect(typeof v).toBe('boolean');
      expect(res.text).not.toContain('127.0.0.1');
    }
    const full = await api.send({ method: 'GET', url: '/healthz' });
    expect(Array.isArray(full.body.nodes)).toBe(true);
    expect(full.text).toContain('127.0.0.1');
  });

  it('compares a fixed-size digest of any presented token, whatever its length', () => {
    const presented = [
      undefined,
      '',
      'Bearer ',
      'Bearer t',
      `Bearer ${TEST_TOKEN.slice(0, -1)}`,
      `Bearer ${TEST_TOKEN.slice(0, -1)}m`,
      `Bearer ${TEST_TOKEN}0`,
      `Bearer ${'t'.repeat(100_000)}`,
      'Basic x',
    ];
    for (const p of presented) {
      compared.calls = [];
      expect(tokenMatches(p, TEST_TOKEN), String(p).slice(0, 40)).toBe(false);
      // Exactly one compare, of two 32-byte SHA-256 digests: no early exit on length or prefix.
      expect(compared.calls, String(p).slice(0, 40)).toEqual([[32, 32]]);
    }
    compared.calls = [];
    expect(tokenMatches(`Bearer ${TEST_TOKEN}`, TEST_TOKEN)).toBe(true);
    expect(compared.calls).toEqual([[32, 32]]);
  });

  it('refuses wrong tokens on the running API of the stack, naming no secret', async () => {
    const real = inject('apiToken');
    const lastByte = real.slice(0, -1) + (real.endsWith('0') ? '1' : '0');
    // The running process serves the routes of the code it started with: take its own list.
    const doc = (await (await fetch(`${inject('apiUrl')}/openapi.json`, { headers: { authorization: `Bearer ${real}` } })).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const served = guarded.filter((r) => doc.paths[openApiPath(r)]?.[r.method.toLowerCase()]);
    expect(served.length).toBeGreaterThanOrEqual(21);
    for (const r of served) {
      for (const header of [null, `Bearer ${lastByte}`, `Bearer ${real.slice(0, -1)}`, `Basic ${real}`, real]) {
        const res = await fetch(`${inject('apiUrl')}${urlOf(r.path).replace(tc.name, 'demo')}`, {
          method: r.method,
          headers: {
            ...(header !== null ? { authorization: header } : {}),
            ...(r.method === 'POST' ? { 'content-type': 'application/json' } : {}),
          },
          ...(r.method === 'POST' ? { body: '{"bogus":1}' } : {}),
        });
        const text = await res.text();
        expect(res.status, `${r.method} ${r.path} with ${header === null ? 'no token' : 'a wrong one'}: ${text}`).toBe(401);
        expect(text).not.toContain(real.slice(0, -1));
      }
    }
  });
});
