import { describe, expect, it } from 'vitest';
import { judgeRole } from '../../domain/roleHealth.js';

describe('role endpoints (judgeRole)', () => {
  const primary = { inRecovery: false, replayPaused: false };
  const standby = { inRecovery: true, replayPaused: false };

  it('a primary is 200 on /primary and /health, 503 on /replica', () => {
    expect(judgeRole('pg1', '/primary', primary)).toMatchObject({ status: 200, body: { role: 'primary', ok: true } });
    expect(judgeRole('pg1', '/health', primary).status).toBe(200);
    expect(judgeRole('pg1', '/replica', primary)).toMatchObject({ status: 503, body: { why: 'the server is not in recovery' } });
  });

  it('a standby is 200 on /replica and /health, 503 on /primary; paused replay is no replica to read from', () => {
    expect(judgeRole('pg2', '/replica', standby)).toMatchObject({ status: 200, body: { role: 'replica' } });
    expect(judgeRole('pg2', '/primary', standby)).toMatchObject({ status: 503, body: { why: 'the server is in recovery' } });
    expect(judgeRole('pg2', '/replica', { inRecovery: true, replayPaused: true })).toMatchObject({
      status: 503,
      body: { why: 'replay is paused' },
    });
  });

  it('a server that cannot be read is 503 everywhere, saying why; an unknown path is 404 naming the valid ones', () => {
    for (const p of ['/primary', '/replica', '/health'])
      expect(judgeRole('pg3', p, { error: 'connect ECONNREFUSED' })).toMatchObject({
        status: 503,
        body: { role: 'unknown', why: 'connect ECONNREFUSED' },
      });
    expect(judgeRole('pg3', '/leader', primary)).toMatchObject({
      status: 404,
      body: { why: 'expected one of /primary, /replica, /health' },
    });
  });
});
