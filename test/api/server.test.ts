import { describe, expect, it } from 'vitest';
import { api } from '../helpers/stack.js';
import { tokenMatches } from '../../api/auth.js';

describe('api', () => {
  it('answers 401 without a token, and with a wrong one, naming no secret', async () => {
    for (const token of [null, 'wrong-token']) {
      const res = await api('GET', '/api/v1/clusters/demo/status', { token });
      expect(res.status).toBe(401);
      expect(res.body.error).toEqual({ code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' });
    }
  });

  it('requires the token for the OpenAPI document too', async () => {
    expect((await api('GET', '/openapi.json', { token: null })).status).toBe(401);
  });

  it('answers 400 for a malformed cluster name, naming the field, the value and the expected form', async () => {
    const res = await api('GET', '/api/v1/clusters/Bad%20Name!/status');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('BAD_REQUEST');
    expect(res.body.error.fields).toEqual([{ field: 'cluster', message: expect.stringContaining('expected a cluster name') }]);
    expect(res.body.error.message).toContain('(got "Bad Name!")');
  });

  it('answers 400 for a bad query parameter and for an unknown one', async () => {
    const bad = await api('GET', '/api/v1/clusters/demo/status?maxLagBytes=-5');
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields[0].field).toBe('query.maxLagBytes');
    expect(bad.body.error.message).toContain('"-5"');
    const unknown = await api('GET', '/api/v1/clusters/demo/status?maxlag=5');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('maxlag');
  });

  it('answers 404 for an unknown cluster, listing the known ones', async () => {
    const res = await api('GET', '/api/v1/clusters/nosuch/status');
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'UNKNOWN_CLUSTER', cluster: 'nosuch' });
    expect(res.body.error.message).toBe('unknown cluster "nosuch": expected one of "demo"');
  });

  it('answers 404 for an unknown route', async () => {
    const res = await api('GET', '/api/v1/nothing');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
  });

  it('serves an OpenAPI document that lists every route with its status codes', async () => {
    const res = await api('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const status = res.body.paths['/api/v1/clusters/{cluster}/status'].get;
    expect(Object.keys(status.responses).sort()).toEqual(['200', '400', '401', '404', '500', '503']);
    expect(status.parameters.map((p: { name: string }) => p.name)).toEqual(['cluster', 'maxLagBytes']);
    expect(res.body.paths['/healthz'].get.security).toEqual([]);
  });

  it('reports health without a token as bare booleans, and in detail with one', async () => {
    const bare = await api('GET', '/healthz', { token: null });
    expect(bare.status).toBe(200);
    expect(bare.body).toEqual({ ok: true, temporal: true, storage: true, nodes: true });
    const full = await api('GET', '/healthz');
    expect(full.body.nodes.map((n: { node: string; ok: boolean; agent: { ok: boolean } }) => [n.node, n.ok, n.agent.ok])).toEqual([
      ['primary', true, true],
      ['replica', true, true],
    ]);
  });

  it('compares tokens without accepting a prefix, a suffix or an empty one', () => {
    expect(tokenMatches('Bearer abc', 'abc')).toBe(true);
    expect(tokenMatches('bearer abc', 'abc')).toBe(true);
    expect(tokenMatches('Bearer ab', 'abc')).toBe(false);
    expect(tokenMatches('Bearer abcd', 'abc')).toBe(false);
    expect(tokenMatches('Bearer ', '')).toBe(false);
    expect(tokenMatches(undefined, 'abc')).toBe(false);
    expect(tokenMatches('Basic abc', 'abc')).toBe(false);
  });
});
