/**
 * Patroni-managed clusters: pgdr asks Patroni (its REST API) to switch over or to reinitialize
 * a member, instead of steering Postgres itself, and reads its view of the cluster. The REST
 * password is resolved here, by cluster name.
 */
import { PatroniError } from '../domain/errors.js';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf } from '../config/lookup.js';
import type { SecretReader } from './secrets.js';
import { activityProgress } from './progress.js';

export interface PatroniDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
}

/** A member as GET /cluster shows it: Patroni's last record in the DCS (up to loop_wait old). */
export interface PatroniMember {
  name: string;
  /** leader, replica, sync_standby (or standby_leader). */
  role: string;
  /** Patroni 3.0.x says "running" for a streaming replica too; later versions say "streaming". */
  state: string;
  timeline: number | null;
  /** Bytes behind the leader's last reported LSN; null when Patroni says "unknown". */
  lagBytes: number | null;
}

/** A member's own GET /patroni: asked of its Postgres now, not read from the DCS. */
interface PatroniStatus {
  state: string;
  /** master (3.0.x) or primary (later), replica. */
  role: string;
  postmasterStartTime: string | null;
  timeline: number | null;
  /** pg_stat_replication on a primary: who streams from it. */
  replication: { applicationName: string; state: string }[];
}

const REPLICA_ROLES = ['replica', 'sync_standby'];
const PRIMARY_ROLES = ['master', 'primary'];
/** How long a member may take to show that a reinitialize began (it stops Postgres at once). */
const REINIT_START_SECONDS = 60;

function restOf(deps: PatroniDeps, cluster: string) {
  const cc = clusterOf(deps.config, cluster);
  if (!cc.patroni) throw new PatroniError(cluster, 'lookup', null, 'the cluster has no patroni section in pgdr.yaml');
  const auth =
    cc.patroni.username && cc.patroni.password
      ? `Basic ${Buffer.from(`${cc.patroni.username}:${deps.readSecret(cc.patroni.password, `cluster "${cluster}" patroni password`)}`).toString('base64')}`
      : null;
  const urls = Object.entries(cc.nodes).map(([name, n]) => ({ name, url: n.patroniUrl!.replace(/\/$/, '') }));
  return { auth, urls };
}

async function call(
  deps: PatroniDeps,
  cluster: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  node?: string,
): Promise<{ status: number; text: string }> {
  const { auth, urls } = restOf(deps, cluster);
  const targets = node ? urls.filter((u) => u.name === node) : urls;
  let lastError = '';
  for (const t of targets) {
    try {
      const res = await fetch(`${t.url}${path}`, {
        method,
        headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(method === 'POST' ? 120_000 : 10_000),
      });
      return { status: res.status, text: await res.text() };
    } catch (err) {
      lastError = `${t.url}: ${(err as Error).message}`;
    }
  }
  throw new PatroniError(cluster, `${method} ${path}`, null, `no member answered (${lastError})`);
}

/** Patroni's view: every member with role, state, timeline and lag (GET /cluster on any member). */
export async function patroniMembers(deps: PatroniDeps, input: { cluster: string }): Promise<PatroniMember[]> {
  const res = await call(deps, input.cluster, 'GET', '/cluster');
  if (res.status !== 200) throw new PatroniError(input.cluster, 'GET /cluster', res.status, res.text);
  const members = (JSON.parse(res.text) as { members?: Record<string, unknown>[] }).members ?? [];
  return members.map((m) => ({
    name: String(m.name),
    role: String(m.role),
    state: String(m.state),
    timeline: typeof m.timeline === 'number' ? m.timeline : null,
    lagBytes: typeof m.lag === 'number' ? m.lag : null,
  }));
}

/** GET /patroni on one member; it answers 503 (with the same document) while Postgres is not running. */
async function memberStatus(deps: PatroniDeps, cluster: string, node: string): Promise<PatroniStatus> {
  const res = await call(deps, cluster, 'GET', '/patroni', undefined, node);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    throw new PatroniError(cluster, `GET /patroni on ${node}`, res.status, res.text);
  }
  const replication = Array.isArray(doc.replication) ? (doc.replication as Record<string, unknown>[]) : [];
  return {
    state: String(doc.state ?? 'unknown'),
    role: String(doc.role ?? 'unknown'),
    postmasterStartTime: typeof doc.postmaster_start_time === 'string' ? doc.postmaster_start_time : null,
    timeline: typeof doc.timeline === 'number' ? doc.timeline : null,
    replication: replication.map((r) => ({ applicationName: String(r.application_name), state: String(r.state) })),
  };
}

/**
 * POST /switchover {leader, candidate}: Patroni demotes the leader and promotes the candidate.
 * Patroni answers once it sees the new leader, or 503 "switchover status unknown" when that
 * takes over 20 s; then the switchover may still complete, and awaitPatroni decides.
 */
export async function patroniSwitchover(
  deps: PatroniDeps,
  input: { cluster: string; leader: string; candidate: string },
): Promise<{ answer: string }> {
  const request = `POST /switchover {leader: ${input.leader}, candidate: ${input.candidate}}`;
  const res = await call(deps, input.cluster, 'POST', '/switchover', { leader: input.leader, candidate: input.candidate });
  const answer = res.text.trim();
  if (res.status === 503 && /status unknown/i.test(answer)) return { answer };
  if (res.status !== 200) throw new PatroniError(input.cluster, request, res.status, res.text);
  // 200 also when another member took over: "Switched over to "x" instead of "y"".
  if (/instead of/i.test(answer))
    throw new PatroniError(input.cluster, request, res.status, `${answer} (expected ${input.candidate} as the leader)`);
  return { answer };
}

/**
 * POST /reinitialize on the member itself: Patroni stops its Postgres and re-clones it from the
 * leader, in the background. Returns once the member shows that this began (its Postgres no
 * longer running, or running since a new start): until then GET /cluster still shows the old
 * server streaming, which awaitPatroni would take for the new one.
 */
export async function patroniReinitialize(
  deps: PatroniDeps,
  input: { cluster: string; node: string },
): Promise<{ answer: string; seconds: number }> {
  const { heartbeat, signal } = activityProgress();
  const before = await memberStatus(deps, input.cluster, input.node).catch(() => null);
  const res = await call(deps, input.cluster, 'POST', '/reinitialize', { force: true }, input.node);
  if (res.status !== 200) throw new PatroniError(input.cluster, `POST /reinitialize on ${input.node}`, res.status, res.text);
  const t0 = Date.now();
  let now: PatroniStatus | null = null;
  for (;;) {
    if (signal.aborted) throw signal.reason;
    now = await memberStatus(deps, input.cluster, input.node).catch(() => null);
    if (now) {
      const restarted =
        now.state === 'running' && now.postmasterStartTime !== null && now.postmasterStartTime !== before?.postmasterStartTime;
      if (restarted || !['running', 'stopping', 'unknown'].includes(now.state))
        return { answer: res.text.trim(), seconds: (Date.now() - t0) / 1000 };
    }
    heartbeat({ state: now?.state ?? 'no answer' });
    if (Date.now() - t0 > REINIT_START_SECONDS * 1000) {
      throw new PatroniError(
        input.cluster,
        `POST /reinitialize on ${input.node}`,
        res.status,
        `answered "${res.text.trim()}" but after ${REINIT_START_SECONDS} s ${input.node} still reports state ${now?.state ?? '(no answer)'}, postmaster started ${now?.postmasterStartTime ?? '-'} (before: ${before?.postmasterStartTime ?? '-'}); expected its Postgres stopped for the re-clone`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Waits until Patroni shows `leader` as leader and every node in `streaming` as a replica with
 * lag at or below maxLagBytes that streams from it. GET /cluster is the DCS and lags the
 * servers (a demoted leader shows as a "running" replica before it streams), so the leader's
 * own GET /patroni must also be a running primary whose pg_stat_replication shows each of them
 * streaming. The leader's timeline in the answer is the one its server reports.
 */
export async function awaitPatroni(
  deps: PatroniDeps,
  input: { cluster: string; leader: string; streaming: string[]; maxLagBytes: number; timeoutSeconds: number },
): Promise<{ members: PatroniMember[]; seconds: number }> {
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  let members: PatroniMember[] = [];
  let live: PatroniStatus | null = null;
  let lastError = '';
  for (;;) {
    if (signal.aborted) throw signal.reason;
    try {
      members = await patroniMembers(deps, { cluster: input.cluster });
      const leaderOk = members.some((m) => m.name === input.leader && m.role === 'leader' && m.state === 'running');
      live = leaderOk ? await memberStatus(deps, input.cluster, input.leader) : null;
      const liveOk = live !== null && live.state === 'running' && PRIMARY_ROLES.includes(live.role);
      const replicasOk = input.streaming.every(
        (n) =>
          members.some(
            (m) =>
              m.name === n &&
              REPLICA_ROLES.includes(m.role) &&
              ['streaming', 'running'].includes(m.state) &&
              m.lagBytes !== null &&
              m.lagBytes <= input.maxLagBytes,
          ) && live!.replication.some((r) => r.applicationName === n && r.state === 'streaming'),
      );
      heartbeat({ members: patroniView(members, live) });
      if (liveOk && replicasOk) {
        const timeline = live!.timeline;
        return {
          members: members.map((m) => (m.name === input.leader && timeline !== null ? { ...m, timeline } : m)),
          seconds: (Date.now() - t0) / 1000,
        };
      }
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() - t0 > input.timeoutSeconds * 1000) {
      throw new PatroniError(
        input.cluster,
        'GET /cluster',
        null,
        `after ${input.timeoutSeconds} s expected leader ${input.leader} and streaming from it ${input.streaming.join(', ') || '-'} (lag at most ${input.maxLagBytes}), got ${members.length ? patroniView(members, live) : lastError}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function patroniView(members: PatroniMember[], live: PatroniStatus | null): string {
  const dcs = members.map((m) => `${m.name} ${m.role} ${m.state} lag ${m.lagBytes ?? '?'}`).join('; ');
  const leader = live
    ? `; the leader says ${live.role} ${live.state}, streaming to ${
        live.replication
          .filter((r) => r.state === 'streaming')
          .map((r) => r.applicationName)
          .join(', ') || 'nobody'
      }`
    : '';
  return dcs + leader;
}
