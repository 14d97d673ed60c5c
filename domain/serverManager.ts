/**
 * How a node's own server is started and stopped: `pg_ctl` on its data directory (pgdr's
 * default), Debian's `pg_ctlcluster <version> <name>` (postgresql-common: configuration in
 * /etc/postgresql/<version>/<name>, the log in /var/log/postgresql), or `systemctl <unit>`.
 * Restored copies and drill instances are pgdr's own and always run under pg_ctl.
 * Workflow-safe: pure.
 */

export type ServerManager =
  { kind: 'pg_ctl' } | { kind: 'pg_ctlcluster'; version: string; name: string } | { kind: 'systemctl'; unit: string };

/** The config's spelling: "pg_ctl", "pg_ctlcluster 15 main" or "systemctl postgresql@15-main". */
export const SERVER_MANAGER_PATTERN =
  /^(?:pg_ctl|pg_ctlcluster (\d+) ([A-Za-z0-9][A-Za-z0-9_.-]*)|systemctl ([A-Za-z0-9][A-Za-z0-9@_.:-]*))$/;

export const SERVER_MANAGER_FORM =
  'expected "pg_ctl", "pg_ctlcluster <major version> <cluster name>" (e.g. "pg_ctlcluster 15 main") or "systemctl <unit>" (e.g. "systemctl postgresql@15-main")';

export function parseServerManager(spelled: string): ServerManager {
  const m = SERVER_MANAGER_PATTERN.exec(spelled);
  if (!m) throw new Error(`server manager is "${spelled}": ${SERVER_MANAGER_FORM}`);
  if (m[1] !== undefined) return { kind: 'pg_ctlcluster', version: m[1], name: m[2]! };
  if (m[3] !== undefined) return { kind: 'systemctl', unit: m[3] };
  return { kind: 'pg_ctl' };
}

export function describeManager(m: ServerManager): string {
  return m.kind === 'pg_ctl' ? 'pg_ctl' : m.kind === 'pg_ctlcluster' ? `pg_ctlcluster ${m.version} ${m.name}` : `systemctl ${m.unit}`;
}

export interface ManagedCommand {
  /** The program: pg_ctl resolved in the node's binDir; pg_ctlcluster and systemctl on PATH. */
  tool: 'pg_ctl' | 'pg_ctlcluster' | 'systemctl';
  inBinDir: boolean;
  args: string[];
  /** systemctl runs as the agent's own user (root); the others as the node's OS user. */
  asOsUser: boolean;
}

export interface StartOptions {
  dataDir: string;
  /** pg_ctl -l (pg_ctl only: the others keep the log where their layout does). */
  logFile: string;
  timeoutSeconds: number;
}

export interface StopOptions {
  dataDir: string;
  mode: 'fast' | 'immediate';
  /** false: ask and return (pg_ctl -W); the caller watches postmaster.pid. systemctl always waits. */
  wait: boolean;
  timeoutSeconds: number;
}

export function startCommand(m: ServerManager, o: StartOptions): ManagedCommand {
  const wait = ['-w', '-t', String(o.timeoutSeconds)];
  switch (m.kind) {
    case 'pg_ctl':
      return { tool: 'pg_ctl', inBinDir: true, args: ['-D', o.dataDir, '-l', o.logFile, ...wait, 'start'], asOsUser: true };
    case 'pg_ctlcluster':
      return { tool: 'pg_ctlcluster', inBinDir: false, args: [m.version, m.name, 'start', '--', ...wait], asOsUser: true };
    case 'systemctl':
      return { tool: 'systemctl', inBinDir: false, args: ['start', m.unit], asOsUser: false };
  }
}

export function stopCommand(m: ServerManager, o: StopOptions): ManagedCommand {
  const wait = o.wait ? ['-w', '-t', String(o.timeoutSeconds)] : ['-W'];
  switch (m.kind) {
    case 'pg_ctl':
      return { tool: 'pg_ctl', inBinDir: true, args: ['-D', o.dataDir, '-m', o.mode, ...wait, 'stop'], asOsUser: true };
    case 'pg_ctlcluster':
      // pg_ctlcluster passes -w itself; a -W after it (ours) wins, as pg_ctl takes the last.
      return { tool: 'pg_ctlcluster', inBinDir: false, args: [m.version, m.name, 'stop', '-m', o.mode, '--', ...wait], asOsUser: true };
    case 'systemctl':
      // The unit decides a stop's mode (postgresql@.service: fast) and systemctl waits for it;
      // immediate is the postmaster's SIGQUIT.
      return {
        tool: 'systemctl',
        inBinDir: false,
        args: o.mode === 'immediate' ? ['kill', '--kill-whom=main', '--signal=SIGQUIT', m.unit] : ['stop', m.unit],
        asOsUser: false,
      };
  }
}

/**
 * Where a start's log lines go, to explain a server that exits while starting: the data
 * directory's log under pg_ctl, postgresql-common's per-cluster log (its `log` symlink when the
 * caller found one), and none for systemd (the journal: the tool's own output is used).
 */
export function startLogFile(m: ServerManager, pgCtlLog: string, debianLogLink: string | null = null): string | null {
  if (m.kind === 'pg_ctl') return pgCtlLog;
  if (m.kind === 'pg_ctlcluster') return debianLogLink ?? `/var/log/postgresql/postgresql-${m.version}-${m.name}.log`;
  return null;
}

/**
 * The data directory a Debian cluster runs, from its postgresql.conf (pg_createcluster writes
 * data_directory; the last setting wins, as in Postgres). Absent: postgresql-common's default,
 * /var/lib/postgresql/<version>/<name>.
 */
export function debianDataDirectory(m: { version: string; name: string }, postgresqlConf: string): string {
  let dir: string | null = null;
  for (const line of postgresqlConf.split('\n')) {
    const hit = /^\s*data_directory\s*=?\s*'((?:[^']|'')*)'/.exec(line);
    if (hit) dir = hit[1]!.replace(/''/g, "'");
  }
  return dir ?? `/var/lib/postgresql/${m.version}/${m.name}`;
}

/** Where postgresql-common keeps a cluster's configuration: /etc/postgresql/<version>/<name>. */
export function debianConfDir(m: { version: string; name: string }): string {
  return `/etc/postgresql/${m.version}/${m.name}`;
}
