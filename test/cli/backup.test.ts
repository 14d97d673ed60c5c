import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { execa } from 'execa';
import { join } from 'node:path';
import { repoRoot, stackLayout } from '../../scripts/stack/layout.js';
import { discardRestore } from '../helpers/restore.js';

const pgdr = (args: string[]) => execa(join(repoRoot, 'bin/pgdr'), args, { env: { PGDR_CONFIG: inject('configPath') }, reject: false });

describe('pgdr backup, backups, schedules', () => {
  it('takes a backup with --wait, showing progress, then lists it as good', async () => {
    const res = await pgdr(['backup', 'demo', '--wait']);
    expect(res.exitCode, res.stderr).toBe(0);
    const [started, , done] = res.stdout.split('\n');
    expect(started).toMatch(/^started backup\/demo\//);
    expect(done).toMatch(
      /^backup (\d{8}T\d{9}Z-F): [\d.]+ MiB, lsn [0-9A-F]+\/[0-9A-F]+-[0-9A-F]+\/[0-9A-F]+, backup successfully verified$/,
    );
    expect(res.stderr).toMatch(/waiting for the cluster lock|locating the source node|streaming pg_basebackup|verifying|done/);
    const id = /^backup (\S+):/.exec(done!)![1]!;
    const list = await pgdr(['backups', 'demo']);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+METHOD\s+TYPE/);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+good\\s+basebackup\\s+full`));
  });

  it('restores the newest backup with --immediate --wait, showing progress, then lists the report', async () => {
    const res = await pgdr(['restore', 'demo', '--immediate', '--wait']);
    const dir = /to primary:(\S+) port/.exec(res.stdout)?.[1];
    try {
      expect(res.exitCode, res.stderr).toBe(0);
      expect(res.stdout).toMatch(/^started pitrRestore\/demo\/\S+: backup \d{8}T\d{9}Z-F to primary:\S+ port \d+$/m);
      // The progress display: one line per step seen (polled each second), first to last. The
      // API answers once the restore has planned and holds its destination, so the first step
      // seen is past the pre-flight.
      const steps = res.stderr.trim().split('\n');
      expect(steps[0]).toMatch(
        /^(preparing the destination|downloading and extracting|verifying the restored files|writing the recovery settings|starting the instance|replaying WAL|checking where recovery stopped|storing the report|done)/,
      );
      expect(steps.at(-1)).toBe('done');
      expect(res.stdout).toMatch(/^restore \d{8}T\d{9}Z: backup \S+ \(basebackup\) to primary:/m);
      expect(res.stdout).toMatch(/^ {2}stopped at lsn [0-9A-F]+\/[0-9A-F]+, last commit .*, paused on timeline \d+$/m);
      expect(res.stdout).toMatch(/^ {2}RTO [\d.]+ s: pre-flight [\d.]+, download [\d.]+, extract [\d.]+, verify [\d.]+, replay [\d.]+/m);
      const list = await pgdr(['restores', 'demo']);
      expect(list.stdout).toMatch(/^ID\s+BACKUP\s+TARGET/);
      // The copy is listed live: running, on its port, in its directory.
      expect(list.stdout).toMatch(new RegExp(`\\srunning\\s+\\d+\\s+primary:${dir!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s`));
    } finally {
      if (dir)
        await discardRestore(
          { layout: stackLayout({ ...process.env, PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') }) },
          dir,
        );
    }
  });

  it('runs a restore drill on the demo cluster with --wait: every check passes, nothing is left behind', async () => {
    const res = await pgdr(['drill', 'demo', '--wait']);
    expect(res.exitCode, `${res.stdout}\n${res.stderr}`).toBe(0);
    const id = /^drill (\d{8}T\d{9}Z): passed, RTO [\d.]+ s, RPO ([\d.]+|-) s$/m.exec(res.stdout)?.[1];
    expect(id).toBeTruthy();
    expect(res.stdout).toMatch(/^ {2}backup \S+ \(newest\): restored in [\d.]+ s, checks [\d.]+ s; torn down: yes$/m);
    expect(res.stdout).toMatch(/^ {4}ok {3}amcheck pg_amcheck --all: no corruption found$/m);
    expect(res.stdout).toMatch(/^ {4}ok {3}checksums data_checksums: on$/m);
    const list = await pgdr(['drills', 'demo']);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+passed\\s+[\\d.]+\\s`, 'm'));
  });

  it('refuses a restore to a malformed time, naming the field', async () => {
    const res = await pgdr(['restore', 'demo', '--time', 'yesterday']);
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toContain('body.target.time');
    expect(res.stderr).toContain('expected an RFC 3339 time with an offset');
  });

  it("refuses a malformed time with -o json: the API's error, naming the field, is the answer on stdout", async () => {
    const res = await pgdr(['restore', 'demo', '--time', 'yesterday', '-o', 'json']);
    expect(res.exitCode).toBe(1);
    const { error } = JSON.parse(res.stdout);
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.fields.map((f: { field: string }) => f.field)).toContain('body.target.time');
  });

  it('takes a backup with --wait -o json: one JSON document with the start and the finished operation', async () => {
    const res = await pgdr(['backup', 'demo', '--wait', '-o', 'json']);
    expect(res.exitCode, res.stderr).toBe(0);
    const { started, operation } = JSON.parse(res.stdout);
    expect(started.workflowId).toMatch(/^backup\/demo\//);
    expect(operation).toMatchObject({ workflowId: started.workflowId, status: 'COMPLETED' });
    expect(operation.result.manifest.id).toMatch(/^\d{8}T\d{9}Z-F$/);
    const list = await pgdr(['backups', 'demo', '-o', 'json']);
    expect(JSON.parse(list.stdout).backups.map((b: { id: string }) => b.id)).toContain(operation.result.manifest.id);
  });

  it('lists the default schedules with their next run times', async () => {
    const res = await pgdr(['schedules', 'demo']);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^full\s+full\s+0 1 \* \* 0 \(UTC\)\s+(active|paused)\s+\d{4}-/m);
    expect(res.stdout).toMatch(/^diff\s+diff\s+0 1 \* \* 1-6 \(UTC\)\s+(active|paused)\s+\d{4}-/m);
    const json = await pgdr(['schedules', 'demo', '-o', 'json']);
    expect(JSON.parse(json.stdout).schedules.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(['full', 'diff']));
  });
});
