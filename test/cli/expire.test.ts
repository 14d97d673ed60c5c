/** What `pgdr expire --dry-run` prints when Object Lock holds backups and WAL back. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeApi, runPgdr, type FakeApi } from './fakeApi.js';

const C = '/api/v1/clusters';
const id = 'expire/demo/1';

describe('pgdr expire', { timeout: 120_000 }, () => {
  let api: FakeApi;
  beforeAll(async () => {
    api = await fakeApi();
    api.routes.set(`POST ${C}/demo/expire`, { status: 202, body: { workflowId: id, uiUrl: `http://ui/${id}` } });
    const reason =
      'locked until 2026-12-03T08:00:00.000Z (governance): older than the oldest kept full 20261202T000000000Z-F, so it is expired once the lock ends';
    api.routes.set(`GET /api/v1/operations/${id}`, {
      status: 200,
      body: {
        workflowId: id,
        uiUrl: `http://ui/${id}`,
        progress: { step: 'done (dry run)' },
        activities: [],
        status: 'COMPLETED',
        result: {
          dryRun: true,
          plan: {
            keep: ['20261201T000000000Z-F', '20261202T000000000Z-F'],
            expire: [],
            heldByMinWindow: [],
            heldByLock: [{ id: '20261201T000000000Z-F', retainUntil: '2026-12-03T08:00:00.000Z', reason }],
            walHeldByLock: { objects: 3, bytes: 3 * 16 * 1024 * 1024, retainUntil: '2026-12-03T08:05:00.000Z' },
            walCutoff: '000000010000000000000002',
          },
          walObjects: 0,
          walBytes: 0,
          deletedBackups: [],
        },
      },
    });
  });
  afterAll(() => api?.close());

  it('shows each backup a lock holds with its retain-until, and the WAL a lock keeps', async () => {
    const r = await runPgdr(['expire', 'demo', '--dry-run'], { PGDR_API_URL: api.url, PGDR_API_TOKEN: 't' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(2)).toEqual([
      'keep: 20261201T000000000Z-F, 20261202T000000000Z-F',
      'kept: 20261201T000000000Z-F (locked until 2026-12-03T08:00:00.000Z (governance): older than the oldest kept full 20261202T000000000Z-F, so it is expired once the lock ends)',
      'wal would expire: 0 objects, 0 B (before 000000010000000000000002)',
      'wal kept by object lock: 3 objects, until 2026-12-03T08:05:00.000Z at the latest',
    ]);
  });
});
