/**
 * HAProxy in front of the harness's nodes, as the README recommends it: a write listener whose
 * only healthy server is the primary (the agents' GET /primary), and a read listener over the
 * standbys (GET /replica). Checked every 500 ms (250 ms while a server changes state); one good
 * check puts a server in, so a new primary gets new connections within about half a second of its
 * promotion. Two failed checks take one out and close its sessions: one slow answer from a busy
 * primary must not cut every client off.
 */
export interface HaproxyNode {
  name: string;
  host: string;
  port: number;
  healthPort: number;
}

export function haproxyConfig(o: { bind: string; writePort: number; readPort: number; nodes: HaproxyNode[] }): string {
  const servers = o.nodes.map((n) => `  server ${n.name} ${n.host}:${n.port} check port ${n.healthPort}`).join('\n');
  const listener = (name: string, port: number, check: string, extra: string[]) =>
    [
      `listen ${name}`,
      `  bind ${o.bind}:${port}`,
      ...extra,
      `  option httpchk GET ${check}`,
      `  http-check expect status 200`,
      `  default-server inter 500ms fastinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions`,
      servers,
      '',
    ].join('\n');
  return [
    "# pgdr: writes to the primary, reads to the standbys, from the node agents' role endpoints (nodes.<node>.healthPort)",
    'global',
    '  maxconn 1000',
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 30m',
    '  timeout server 30m',
    '  timeout check 1s',
    '',
    listener('pg-write', o.writePort, '/primary', []),
    listener('pg-read', o.readPort, '/replica', ['  balance roundrobin']),
  ].join('\n');
}
