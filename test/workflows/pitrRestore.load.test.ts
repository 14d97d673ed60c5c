/**
 * Restores and drills on a busy host (two busy loops on a two-core machine): three restores
 * started at once with automatic ports each get a port of their own, never a node's, and all
 * reach their target; a drill passes every check. Before, a server still starting was judged
 * dead (no postmaster.pid yet), and concurrent restores all took the same port.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pitrSource, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { cpuBurners, type Burners } from '../helpers/load.js';
import { timeAfter } from '../helpers/ticks.js';
import type { DrillReport } from '../../domain/drill.js';

describe('restores and drills with both cores busy', () => {
  let src: PitrSource;
  let burn: Burners | undefined;

  beforeAll(async () => {
    src = await pitrSource('load', { tickSeconds: 4 });
  }, 240_000);
  afterEach(() => {
    burn?.stop();
    burn = undefined;
  });
  afterAll(async () => {
    burn?.stop();
    await src?.close();
  });

  it('gives three restores started at once with automatic ports three different ports, none a node port, and all reach their target', async () => {
    const range = src.tc.config.clusters[src.tc.name]!.restore;
    const k = Math.floor(src.ticks.length / 2);
    const time = timeAfter(src.ticks, k);
    burn = cpuBurners(2);
    const runs = await Promise.all([0, 1, 2].map(() => restoreAndWait(src.c, src.tc.name, { target: { time } }, src.made)));
    burn.stop();
    const ports = runs.map((r) => r.report.destination.port);
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      expect(port).not.toBe(src.pgs.port);
      expect(port).toBeGreaterThanOrEqual(range.portFrom);
      expect(port).toBeLessThanOrEqual(range.portTo);
      expect(await src.rows(port)).toBe(`${k}|1|${k}`);
    }
    expect(runs.map((r) => r.report.stop.state)).toEqual(['paused', 'paused', 'paused']);
    // A busy two-core host shared with other work: each restore took ~100 s here.
  }, 600_000);

  it('passes a drill with every check while both cores are busy', async () => {
    burn = cpuBurners(2);
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, {});
    expect(res.status).toBe(202);
    const report = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as DrillReport;
    expect(report.failures).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.restores[0]).toMatchObject({ error: null, teardown: { removed: true } });
  }, 600_000);
});
