/**
 * Activities that steer WAL archiving on a node over SQL: turn it on (ALTER SYSTEM, which the
 * pgdr role may do for these parameters only) and force a segment switch for the round trip.
 */
import { activityProgress } from '../../adapters/progress.js';
import { withNode, type PostgresDeps } from '../../adapters/sql.js';
import { parseWalSegmentSize } from '../../domain/walSegmentSize.js';

export interface EnableArchivingNodeInput {
  cluster: string;
  node: string;
  archiveCommand: string;
  restoreCommand: string;
}

export interface EnableArchivingNodeResult {
  node: string;
  /** Parameters whose value this call changed, with old and new values. */
  changed: { name: string; from: string; to: string }[];
  /** True when a parameter only takes effect after a restart (archive_mode). */
  restartNeeded: boolean;
  /** The settings now in effect, as the server reports them. */
  effective: Record<string, string>;
}

const SETTINGS_SQL = `select name, setting, pending_restart from pg_settings where name = any($1)`;

/**
 * Sets archive_mode, archive_command and restore_command with ALTER SYSTEM and reloads. Leaves
 * equal values alone, so a repeated call changes nothing. Reports whether a restart is needed.
 */
export async function enableArchivingOnNode(deps: PostgresDeps, input: EnableArchivingNodeInput): Promise<EnableArchivingNodeResult> {
  const wanted: Record<string, string> = {
    archive_mode: 'on',
    archive_command: input.archiveCommand,
    restore_command: input.restoreCommand,
  };
  return withNode(deps, input.cluster, input.node, async (c) => {
    const names = Object.keys(wanted);
    const before = new Map((await c.query(SETTINGS_SQL, [names])).rows.map((r) => [r.name as string, String(r.setting)]));
    const changed: EnableArchivingNodeResult['changed'] = [];
    for (const [name, to] of Object.entries(wanted)) {
      const from = before.get(name) ?? '';
      // archive_mode "always" also archives on standbys; that is at least as good as "on".
      if (from === to || (name === 'archive_mode' && from === 'always')) continue;
      await c.query(`alter system set ${name} = ${c.escapeLiteral(to)}`);
      changed.push({ name, from, to });
    }
    if (changed.length) await c.query('select pg_reload_conf()');
    // The reload is asynchronous: wait until the server shows the new values (or a pending restart).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const rows = (await c.query(SETTINGS_SQL, [names])).rows;
      const effective = Object.fromEntries(rows.map((r) => [r.name as string, String(r.setting)]));
      const pending = rows.some((r) => r.pending_restart === true);
      const applied = changed.every((ch) => effective[ch.name] === ch.to || (ch.name === 'archive_mode' && pending));
      if (applied || Date.now() > deadline) {
        return { node: input.node, changed, restartNeeded: pending || effective.archive_mode === 'off', effective };
      }
      await new Promise((r) => setTimeout(r, 200));
      activityProgress().heartbeat({ waitingFor: 'reload' });
    }
  });
}

export interface SwitchWalResult {
  /** What pg_switch_wal() returned. */
  switchLsn: string;
  /** The segment the switch closed: it must reach the archive. */
  segment: string;
  timeline: number;
  segmentBytes: number;
}

/**
 * Forces a WAL segment switch on the primary and names the closed segment. With no WAL written
 * since the last switch nothing new is closed, and the named segment is the previous one (which
 * must be in the archive all the same).
 */
export async function switchWal(deps: PostgresDeps, input: { cluster: string; node: string }): Promise<SwitchWalResult> {
  return withNode(deps, input.cluster, input.node, async (c) => {
    const r = (
      await c.query(`select lsn::text as lsn, pg_walfile_name(lsn) as segment,
                            current_setting('wal_segment_size')::text as seg
                       from (select pg_switch_wal() as lsn) s`)
    ).rows[0];
    const segment = String(r.segment);
    return { switchLsn: r.lsn, segment, timeline: parseInt(segment.slice(0, 8), 16), segmentBytes: parseWalSegmentSize(String(r.seg)) };
  });
}

/**
 * Waits until this node's own archiver reports `segment` (or a later one) archived in
 * pg_stat_archiver, up to timeoutSeconds; heartbeats while it waits. The agent's archiver may put
 * a segment in S3 before Postgres has run archive_command for it, so the object alone does not
 * show that Postgres can recycle it, nor that a failing archive_command has recovered. Returns
 * early (failing true) when archive_command fails again while it waits; `progressed` says
 * whether the archiver reported anything new meanwhile (behind, but working).
 */
export async function awaitArchiverReported(
  deps: PostgresDeps,
  input: { cluster: string; node: string; segment: string; timeoutSeconds: number },
): Promise<{ ok: boolean; failing: boolean; progressed: boolean; seconds: number; lastArchivedWal: string | null }> {
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  return withNode(deps, input.cluster, input.node, async (c) => {
    let failedBefore: number | null = null;
    let firstSeen: string | null | undefined;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const r = (await c.query(`select last_archived_wal, failed_count::int as failed from pg_stat_archiver`)).rows[0];
      const last: string | null = r?.last_archived_wal ?? null;
      const failed = Number(r?.failed ?? 0);
      failedBefore ??= failed;
      if (firstSeen === undefined) firstSeen = last;
      const seconds = (Date.now() - t0) / 1000;
      const reported = typeof last === 'string' && /^[0-9A-F]{24}/.test(last) && last.slice(0, 24) >= input.segment;
      const failing = !reported && failed > failedBefore;
      if (reported || failing || seconds >= input.timeoutSeconds)
        return { ok: reported, failing, progressed: last !== firstSeen, seconds, lastArchivedWal: last };
      heartbeat({ waitingFor: `the archiver to report ${input.segment}`, lastArchivedWal: last });
      await new Promise((res) => setTimeout(res, 100));
    }
  });
}
