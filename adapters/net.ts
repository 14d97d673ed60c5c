import { connect, createServer } from 'node:net';

export interface TcpCheck {
  ok: boolean;
  detail?: string;
}

/** Does something accept TCP connections at host:port within the timeout? */
export function tcpCheck(host: string, port: number, timeoutMs = 2000): Promise<TcpCheck> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (c: TcpCheck) => {
      s.destroy();
      resolve(c);
    };
    s.once('connect', () => done({ ok: true }));
    s.once('error', (e) => done({ ok: false, detail: e.message }));
    s.setTimeout(timeoutMs, () => done({ ok: false, detail: `no answer within ${timeoutMs} ms` }));
  });
}

/** A TCP port free on 127.0.0.1 right now (the kernel's choice; never a fixed one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
