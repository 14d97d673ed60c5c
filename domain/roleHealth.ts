/**
 * The node agent's role endpoints for a load balancer (HAProxy `option httpchk`), as Patroni
 * serves them: GET /primary, /replica and /health answer 200 or 503 from the server's state as
 * read for that request. Pure: the HTTP face is adapters/roleEndpoints.ts.
 */

/** What one read of the server said; `error` when it could not be read at all. */
export type ServerState = { inRecovery: boolean; replayPaused: boolean } | { error: string };

export const ROLE_PATHS = ['/primary', '/replica', '/health'] as const;
export type RolePath = (typeof ROLE_PATHS)[number];

export interface RoleAnswer {
  status: 200 | 503 | 404;
  body: { node: string; role: 'primary' | 'replica' | 'unknown'; check: string; ok: boolean; why?: string };
}

/**
 * /primary: 200 only while the server answers and is not in recovery (writes go there).
 * /replica: 200 only while it answers in recovery with replay not paused (reads may go there).
 * /health:  200 while it answers at all.
 */
export function judgeRole(node: string, path: string, state: ServerState): RoleAnswer {
  if (!(ROLE_PATHS as readonly string[]).includes(path)) {
    return { status: 404, body: { node, role: 'unknown', check: path, ok: false, why: `expected one of ${ROLE_PATHS.join(', ')}` } };
  }
  if ('error' in state) return { status: 503, body: { node, role: 'unknown', check: path, ok: false, why: state.error } };
  const role = state.inRecovery ? 'replica' : 'primary';
  let why: string | undefined;
  if (path === '/primary' && state.inRecovery) why = 'the server is in recovery';
  if (path === '/replica' && !state.inRecovery) why = 'the server is not in recovery';
  if (path === '/replica' && state.inRecovery && state.replayPaused) why = 'replay is paused';
  return { status: why ? 503 : 200, body: { node, role, check: path, ok: !why, ...(why ? { why } : {}) } };
}
