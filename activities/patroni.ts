/**
 * Patroni-managed clusters: pgdr asks Patroni (its REST API) to switch over or to reinitialize
 * a member, instead of steering Postgres itself, and reads its view of the cluster. The REST
 * password is resolved here, by cluster name.
 */
import { PatroniError } from '../common/errors.js';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf } from '../config/lookup.js';
import type { SecretReader } from './secrets.js';
import { activityProgress } from './progress.js';

export interface PatroniDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
}

export interface PatroniMember {
  name: string;
  role: string;
  state: string;
  timeline: number | null;
  lagBytes: number | null;
}

function restOf(deps: PatroniDeps, cluster: string) {
  const cc = clusterOf(deps.config, cluster);
  if (!cc.patroni) throw new PatroniError(cluster, 'lookup', null, 'the cluster has no patroni section in pgdr.yaml');
  const auth = cc.patroni.username && cc.patroni.password ? `Basic ${Buffer.from(`${cc.patroni.username}:${deps.readSecret(cc.patroni.password, `cluster "${cluster}" patroni password`)}`).toString('base64')}` : null;
  const urls = Object.entries(cc.nodes).map(([name, n]) => ({ name, url: n.patroniUrl!.replace(/\/$/, '') }));
  return { auth, urls };
}

async function call(deps: PatroniDeps, cluster: string, method: 'GET' | 'POST', path: string, body?: unknown, node?: string): Promise<{ status: number; text: string }> {
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

/** POST /switchover {leader, candidate}: Patroni demotes the leader and promotes the candidate. */
export async function patroniSwitchover(deps: PatroniDeps, input: { cluster: string; leader: string; candidate: string }): Promise<{ answer: string }> {
  const res = await call(deps, input.cluster, 'POST', '/switchover', { leader: input.leader, candidate: input.candidate });
  if (res.status !== 200) throw new PatroniError(input.cluster, `POST /switchover {leader: ${input.leader}, candidate: ${input.candidate}}`, res.status, res.text);
  return { answer: res.text.trim() };
}

/** POST /reinitialize on the member itself: Patroni re-clones it from the leader. */
export async function patroniReinitialize(deps: PatroniDeps, input: { cluster: string; node: string }): Promise<{ answer: string }> {
  const res = await call(deps, input.cluster, 'POST', '/reinitialize', { force: true }, input.node);
  if (res.status !== 200) throw new PatroniError(input.cluster, `POST /reinitialize on ${input.node}`, res.status, res.text);
  return { answer: res.text.trim() };
}

/**
 * Waits until Patroni shows `leader` as leader and every node in `streaming` as a replica
 * that streams (state streaming/running) with lag at or below maxLagBytes.
 */
export async function awaitPatroni(
  deps: PatroniDeps,
  input: { cluster: string; leader: string; streaming: string[]; maxLagBytes: number; timeoutSeconds: number },
): Promise<{ members: PatroniMember[]; seconds: number }> {
  const { heartbeat, signal } = activityProgress();
  const t0 = Date.now();
  let members: PatroniMember[] = [];
  let lastError = '';
  for (;;) {
    if (signal.aborted) throw signal.reason;
    try {
      members = await patroniMembers(deps, { cluster: input.cluster });
      const leaderOk = members.some((m) => m.name === input.leader && m.role === 'leader' && m.state === 'running');
      const replicasOk = input.streaming.every((n) => members.some((m) => m.name === n && m.role === 'replica' && ['streaming', 'running'].includes(m.state) && m.lagBytes !== null && m.lagBytes <= input.maxLagBytes));
      heartbeat({ members: members.map((m) => `${m.name}:${m.role}/${m.state}/lag ${m.lagBytes ?? '?'}`).join(' ') });
      if (leaderOk && replicasOk) return { members, seconds: (Date.now() - t0) / 1000 };
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() - t0 > input.timeoutSeconds * 1000) {
      throw new PatroniError(input.cluster, 'GET /cluster', null, `after ${input.timeoutSeconds} s expected leader ${input.leader} and streaming ${input.streaming.join(', ') || '-'}, got ${members.map((m) => `${m.name} ${m.role} ${m.state} lag ${m.lagBytes ?? '?'}`).join('; ') || lastError}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
