/**
 * Drill coverage end to end: with three good backups, each drill proves the newest plus the
 * oldest not yet proven (that one at its own consistency point), until the API, the metrics, the
 * drill page and the CLI all show every backup proven.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pitrSource, type PitrSource } from '../helpers/restore.js';
import type { DrillReport } from '../../domain/drill.js';
import type { DrillCoverage } from '../../domain/drillCoverage.js';

describe('drill coverage', () => {
  let src: PitrSource;
  const ids: string[] = [];
  const base = () => `/api/v1/clusters/${src.tc.name}`;
  const coverage = async () => (await src.c.call('GET', `${base()}/drills/coverage`)).body as DrillCoverage;
  const metric = async (name: string) => {
    const text = (await src.c.text('GET', '/metrics')).body;
    const line = text.split('\n').find((l) => l.startsWith(`${name}{cluster="${src.tc.name}",repository="primary"}`));
    return line === undefined ? undefined : Number(line.split(' ').at(-1));
  };
  const drill = async () => {
    const res = await src.c.call('POST', `${base()}/drills`, {});
    expect(res.status).toBe(202);
    return (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as DrillReport;
  };

  beforeAll(async () => {
    src = await pitrSource('cover', {
      tickSeconds: 2,
      adjust: (cl) => {
        cl.drill = {
          cron: null,
          largestTables: 1,
          // The oldest backup predates the ticks table: an older backup is checked for integrity only.
          assertions: [{ name: 'ticks fresh', sql: 'select max(at) from ticks', expect: 'fresh within 1h' }],
        };
      },
    });
    ids.push(src.backup.id);
    for (let i = 0; i < 2; i++) {
      await src.db.query('insert into ticks (id, at) select max(id) + 1, now() from ticks');
      const b = await src.c.call('POST', `${base()}/backups`, { type: 'full' });
      ids.push((await src.c.temporal.workflow.getHandle(b.body.workflowId).result()).manifest.id);
    }
  }, 600_000);
  afterAll(async () => src?.close());

  it('starts with nothing proven', async () => {
    expect(await coverage()).toMatchObject({ proofWindowDays: 31, backups: 3, proven: 0, ratio: 0, unproven: ids });
    expect(await metric('pgdr_backups_unproven')).toBe(3);
    expect(await metric('pgdr_backup_proof_coverage_ratio')).toBe(0);
  });

  it('proves the newest and the oldest unproven in each drill, until every backup is proven', async () => {
    const first = await drill();
    expect(first.ok, JSON.stringify(first.failures)).toBe(true);
    expect(first.restores.map((r) => [r.role, r.backupId])).toEqual([
      ['newest', ids[2]],
      ['older', ids[0]],
    ]);
    // The older backup came up at its own consistency point, not replayed to now.
    const older = first.restores[1]!;
    expect(older.restore!.target).toEqual({ immediate: true });
    expect(older.rpoSeconds).toBeNull();
    expect(older.checks.map((c) => c.kind).sort()).toEqual(['amcheck', 'checksums', 'verification']);
    expect(first.restores[0]!.checks.find((c) => c.name === 'ticks fresh')).toMatchObject({ ok: true });
    expect(first.restores[0]!.restore!.target).toEqual({ latest: true });
    expect(await coverage()).toMatchObject({ backups: 3, proven: 2, unproven: [ids[1]] });
    expect(await metric('pgdr_backups_unproven')).toBe(1);
    expect(await metric('pgdr_backup_proof_coverage_ratio')).toBeCloseTo(2 / 3, 5);

    const second = await drill();
    expect(second.ok, JSON.stringify(second.failures)).toBe(true);
    expect(second.restores.map((r) => [r.role, r.backupId])).toEqual([
      ['newest', ids[2]],
      ['older', ids[1]],
    ]);
    const all = await coverage();
    expect(all).toMatchObject({ backups: 3, proven: 3, ratio: 1, unproven: [] });
    expect(all.rows.map((r) => [r.backupId, r.proof?.drillId])).toEqual([
      [ids[0], first.id],
      [ids[1], second.id],
      [ids[2], second.id],
    ]);
    expect(await metric('pgdr_backups_unproven')).toBe(0);
    expect(await metric('pgdr_backup_proof_coverage_ratio')).toBe(1);

    // Everything proven: the next drill restores only the newest.
    const third = await drill();
    expect(third.restores.map((r) => r.role)).toEqual(['newest']);

    const page = (await src.c.text('GET', `${base()}/drills/report.html`)).body;
    expect(page).toContain('Coverage: 3 of 3 good backups proven in the last 31 days (100%)');

    // The CLI shows the same.
    const cli = await src.c.cli(['drills', src.tc.name, '--coverage']);
    expect(cli.exitCode, cli.stderr).toBe(0);
    expect(cli.stdout.split('\n')[0]).toBe(`cluster ${src.tc.name}: 3 of 3 good backups proven by a drill in the last 31 days (100%)`);
    for (const id of ids) expect(cli.stdout).toMatch(new RegExp(`^${id}\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+\\d{8}T\\d{9}Z$`, 'm'));
  }, 900_000);
});
