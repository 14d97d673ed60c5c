/**
 * A stand-in for the pgdr API, for testing what the CLI prints and how it exits on each kind of
 * answer (the API itself is tested against the real stack in test/api). Answers by "METHOD path";
 * anything else is a 404 in the API's error shape. Records every request it gets.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../scripts/stack/layout.js';

export interface FakeAnswer {
  status: number;
  body: unknown;
}

export interface FakeApi {
  url: string;
  /** Answers by "GET /api/v1/..." */
  routes: Map<string, FakeAnswer>;
  requests: { method: string; path: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

export async function fakeApi(): Promise<FakeApi> {
  const routes = new Map<string, FakeAnswer>();
  const requests: FakeApi['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
    req.resume();
    req.on('end', () => {
      const notFound = { status: 404, body: { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` } } };
      const answer = routes.get(`${req.method} ${req.url}`) ?? notFound;
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    routes,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** bin/pgdr with only the given environment (no PGDR_CONFIG unless given, so nothing falls back to a real config). */
export const runPgdr = (args: string[], env: Record<string, string>) =>
  execa(join(repoRoot, 'bin/pgdr'), args, {
    env: { PGDR_CONFIG: '/nonexistent/pgdr.yaml', PGDR_API_URL: '', PGDR_API_TOKEN: '', PGDR_API_TOKEN_FILE: '', ...env },
    extendEnv: true,
    reject: false,
  });
