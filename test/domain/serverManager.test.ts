import { describe, expect, it } from 'vitest';
import {
  debianDataDirectory,
  describeManager,
  parseServerManager,
  startCommand,
  startLogFile,
  stopCommand,
} from '../../domain/serverManager.js';

describe('server manager', () => {
  it('reads the three spellings, and names the form when one is wrong', () => {
    expect(parseServerManager('pg_ctl')).toEqual({ kind: 'pg_ctl' });
    expect(parseServerManager('pg_ctlcluster 15 main')).toEqual({ kind: 'pg_ctlcluster', version: '15', name: 'main' });
    expect(parseServerManager('systemctl postgresql@15-main')).toEqual({ kind: 'systemctl', unit: 'postgresql@15-main' });
    for (const bad of ['pg_ctlcluster main 15', 'pg_ctlcluster 15', 'systemctl', 'service postgresql start', 'pg_ctl; rm -rf /'])
      expect(() => parseServerManager(bad)).toThrow(`server manager is "${bad}": expected "pg_ctl", "pg_ctlcluster <major version>`);
    expect(describeManager(parseServerManager('pg_ctlcluster 16 reports'))).toBe('pg_ctlcluster 16 reports');
  });

  it('starts and stops through pg_ctl on the data directory, with its log there', () => {
    const m = parseServerManager('pg_ctl');
    expect(startCommand(m, { dataDir: '/d', logFile: '/d/pgdr-server.log', timeoutSeconds: 300 })).toEqual({
      tool: 'pg_ctl',
      inBinDir: true,
      args: ['-D', '/d', '-l', '/d/pgdr-server.log', '-w', '-t', '300', 'start'],
      asOsUser: true,
    });
    expect(stopCommand(m, { dataDir: '/d', mode: 'fast', wait: false, timeoutSeconds: 120 }).args).toEqual([
      '-D',
      '/d',
      '-m',
      'fast',
      '-W',
      'stop',
    ]);
    expect(startLogFile(m, '/d/pgdr-server.log')).toBe('/d/pgdr-server.log');
  });

  it("runs a Debian cluster through pg_ctlcluster, as the node's OS user, its log where postgresql-common keeps it", () => {
    const m = parseServerManager('pg_ctlcluster 15 main');
    const start = startCommand(m, { dataDir: '/var/lib/postgresql/15/main', logFile: '/ignored', timeoutSeconds: 60 });
    expect(start).toEqual({
      tool: 'pg_ctlcluster',
      inBinDir: false,
      args: ['15', 'main', 'start', '--', '-w', '-t', '60'],
      asOsUser: true,
    });
    // No -D and no -l: the cluster's own configuration says where its data and log are.
    expect(start.args).not.toContain('-D');
    expect(stopCommand(m, { dataDir: '/x', mode: 'fast', wait: false, timeoutSeconds: 120 }).args).toEqual([
      '15',
      'main',
      'stop',
      '-m',
      'fast',
      '--',
      '-W',
    ]);
    expect(stopCommand(m, { dataDir: '/x', mode: 'immediate', wait: true, timeoutSeconds: 60 }).args).toEqual([
      '15',
      'main',
      'stop',
      '-m',
      'immediate',
      '--',
      '-w',
      '-t',
      '60',
    ]);
    expect(startLogFile(m, '/ignored')).toBe('/var/log/postgresql/postgresql-15-main.log');
    expect(startLogFile(m, '/ignored', '/srv/logs/main.log')).toBe('/srv/logs/main.log');
  });

  it('leaves a systemd unit its own stop mode and runs systemctl as the agent itself', () => {
    const m = parseServerManager('systemctl postgresql@15-main');
    expect(startCommand(m, { dataDir: '/d', logFile: '/l', timeoutSeconds: 1 })).toEqual({
      tool: 'systemctl',
      inBinDir: false,
      args: ['start', 'postgresql@15-main'],
      asOsUser: false,
    });
    expect(stopCommand(m, { dataDir: '/d', mode: 'fast', wait: false, timeoutSeconds: 1 }).args).toEqual(['stop', 'postgresql@15-main']);
    expect(stopCommand(m, { dataDir: '/d', mode: 'immediate', wait: true, timeoutSeconds: 1 }).args).toEqual([
      'kill',
      '--kill-whom=main',
      '--signal=SIGQUIT',
      'postgresql@15-main',
    ]);
    expect(startLogFile(m, '/l')).toBeNull();
  });

  it("reads the data directory a Debian cluster runs from its postgresql.conf, the last setting winning, else postgresql-common's default", () => {
    const m = { version: '15', name: 'main' };
    expect(debianDataDirectory(m, "data_directory = '/srv/pg/main'\t\t# use data in another directory\n")).toBe('/srv/pg/main');
    expect(debianDataDirectory(m, "#data_directory = '/old'\ndata_directory='/a'\n  data_directory '/b''s'\n")).toBe("/b's");
    expect(debianDataDirectory(m, 'port = 5432\n')).toBe('/var/lib/postgresql/15/main');
  });
});
