/**
 * The systemd unit templates of packaging/systemd/ as `systemd-analyze verify` sees them (no
 * systemd runs here: --man=no, and the units' /usr/bin/ programs pointed at this checkout's
 * launchers, which are what `npm install -g --prefix /usr` links there), plus the properties an
 * operator counts on: who each unit runs as, its hardening, and its environment files.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../scripts/stack/layout.js';

const unitsDir = join(repoRoot, 'packaging', 'systemd');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };

/** A unit's [Service] settings, each key with every value it is given. */
function serviceSettings(unit: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const line of readFileSync(join(unitsDir, unit), 'utf8').split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line.trim());
    if (header) section = header[1]!;
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (section === 'Service' && kv) out.set(kv[1]!, [...(out.get(kv[1]!) ?? []), kv[2]!]);
  }
  return out;
}

describe('systemd unit templates', () => {
  let dir: string;
  /** The units as they would verify on a host, instance named; /usr/bin/ is this checkout's bin/. */
  const verifyNames = ['pgdr-control.service', 'pgdr-api.service', 'pgdr-agent@demo-node1.service'];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-units-'));
    for (const unit of readdirSync(unitsDir)) {
      writeFileSync(join(dir, unit), readFileSync(join(unitsDir, unit), 'utf8').replaceAll('/usr/bin/', `${join(repoRoot, 'bin')}/`));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ships exactly the three units, inside the package files', () => {
    expect(readdirSync(unitsDir).sort()).toEqual(['pgdr-agent@.service', 'pgdr-api.service', 'pgdr-control.service']);
    expect(pkg.files).toContain('packaging/systemd/');
  });

  it('verifies with systemd-analyze, without a single warning', async () => {
    const r = await execa('systemd-analyze', ['verify', '--man=no', ...verifyNames.map((u) => join(dir, u))], { reject: false, cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('fails verification when a unit names a program that does not exist or a setting systemd does not know', async () => {
    // The check above can fail: the same verify rejects a unit with a missing program or a typo.
    copyFileSync(join(dir, 'pgdr-api.service'), join(dir, 'broken-api.service'));
    writeFileSync(
      join(dir, 'broken-api.service'),
      readFileSync(join(dir, 'broken-api.service'), 'utf8').replace(
        /^ExecStart=.*$/m,
        'ExecStart=/nonexistent/pgdr-api\nProtectSytem=strict',
      ),
    );
    const r = await execa('systemd-analyze', ['verify', '--man=no', join(dir, 'broken-api.service')], { reject: false, cwd: dir });
    expect(r.stderr).toContain("Unknown key 'ProtectSytem'");
    expect(r.stderr).toContain('/nonexistent/pgdr-api is not executable');
    expect(r.exitCode).not.toBe(0);
  });

  it('runs each unit with a program the package installs, with the role it is for', () => {
    const execs = Object.fromEntries(
      ['pgdr-agent@.service', 'pgdr-control.service', 'pgdr-api.service'].map((u) => [u, serviceSettings(u).get('ExecStart')]),
    );
    expect(execs).toEqual({
      'pgdr-agent@.service': ['/usr/bin/pgdr-worker --role agent --instance %i'],
      'pgdr-control.service': ['/usr/bin/pgdr-worker --role control'],
      'pgdr-api.service': ['/usr/bin/pgdr-api'],
    });
    for (const bin of ['pgdr-worker', 'pgdr-api']) expect(pkg.bin[bin]).toBe(`bin/${bin}`);
  });

  it('runs the agent as the Postgres OS user and the control worker and API as pgdr, never as root', () => {
    expect(serviceSettings('pgdr-agent@.service').get('User')).toEqual(['postgres']);
    expect(serviceSettings('pgdr-control.service').get('User')).toEqual(['pgdr']);
    expect(serviceSettings('pgdr-api.service').get('User')).toEqual(['pgdr']);
  });

  it('reads /etc/pgdr/<unit>.env, and the agent its instance file too, each optional', () => {
    expect(serviceSettings('pgdr-control.service').get('EnvironmentFile')).toEqual(['-/etc/pgdr/pgdr-control.env']);
    expect(serviceSettings('pgdr-api.service').get('EnvironmentFile')).toEqual(['-/etc/pgdr/pgdr-api.env']);
    expect(serviceSettings('pgdr-agent@.service').get('EnvironmentFile')).toEqual([
      '-/etc/pgdr/pgdr-agent.env',
      '-/etc/pgdr/pgdr-agent@%i.env',
    ]);
  });

  it('hardens every unit, and lets the agent write only where Postgres work happens', () => {
    for (const unit of ['pgdr-agent@.service', 'pgdr-control.service', 'pgdr-api.service']) {
      const s = serviceSettings(unit);
      expect({
        unit,
        noNewPrivileges: s.get('NoNewPrivileges'),
        protectSystem: s.get('ProtectSystem'),
        protectHome: s.get('ProtectHome'),
      }).toEqual({
        unit,
        noNewPrivileges: ['yes'],
        protectSystem: ['strict'],
        protectHome: ['yes'],
      });
      expect(s.get('CapabilityBoundingSet')).toEqual(['']);
    }
    const agent = serviceSettings('pgdr-agent@.service');
    const writable = (agent.get('ReadWritePaths') ?? []).flatMap((v) => v.split(/\s+/));
    for (const path of ['/var/lib/postgresql', '/var/lib/pgdr', '/var/tmp/pgdr', '/run/postgresql', '/var/spool/pgbackrest']) {
      expect(writable).toContain(`-${path}`);
    }
    // The agent writes scratch files under os.tmpdir(): TMPDIR is a directory systemd makes writable.
    expect(agent.get('CacheDirectory')).toEqual(['pgdr']);
    expect(agent.get('Environment')).toContain('TMPDIR=/var/cache/pgdr');
    // A Postgres the agent starts may keep its socket in /tmp (the upstream default).
    expect(writable).toContain('-/tmp');
    // Servers the agent starts must survive an agent restart.
    expect(agent.get('KillMode')).toEqual(['process']);
  });

  it('keeps systemd-analyze security exposure low (offline)', async () => {
    for (const unit of verifyNames) {
      const r = await execa('systemd-analyze', ['security', '--offline=true', '--no-pager', join(dir, unit)], { reject: false, cwd: dir });
      const m = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout);
      expect(m, `${unit}: ${r.stdout.slice(-300)}${r.stderr}`).not.toBeNull();
      expect({ unit, exposure: Number(m![1]) <= 2.5 }).toEqual({ unit, exposure: true });
    }
  });
});
