/**
 * The CLI facing an answer that is not pgdr's: a proxy's HTML error page, plain text, a
 * truncated body. It prints the status and the text (escaped), exits 1, and never crashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../scripts/stack/layout.js';

describe('pgdr on a reply that is not JSON', () => {
  let server: Server;
  let url: string;
  /** What the fake API answers next: status, content type, body. */
  let answer: { status: number; type: string; body: string };

  beforeAll(async () => {
    server = createServer((_req, res) => res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const pgdr = (args: string[]) => execa(join(repoRoot, 'bin/pgdr'), args, { env: { PGDR_API_URL: url, PGDR_API_TOKEN: 'x' }, reject: false });

  it('prints a 502 HTML page as text with the status and exits 1', async () => {
    answer = { status: 502, type: 'text/html', body: '<html><body>Bad Gateway</body></html>' };
    const res = await pgdr(['status', 'demo']);
    expect(res.exitCode, res.stderr).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      `pgdr: the API at ${url} answered http 502 with a body that is not JSON (content-type text/html): <html><body>Bad Gateway</body></html>\nHINT: does PGDR_API_URL point at the pgdr API?`,
    );
  });

  it('prints a 200 with a truncated JSON body the same way, not as a crash', async () => {
    answer = { status: 200, type: 'application/json', body: '{"cluster": "demo", "nodes": [' };
    const res = await pgdr(['backups', 'demo']);
    expect(res.exitCode, res.stderr).toBe(1);
    expect(res.stderr).toContain('answered http 200 with a body that is not JSON (content-type application/json): {"cluster": "demo", "nodes": [');
    expect(res.stderr).not.toMatch(/SyntaxError|at JSON\.parse|    at /);
  });

  it('escapes control characters of the reply and shows at most 500 characters of it', async () => {
    answer = { status: 500, type: 'text/plain', body: `\u001b[2J\u001b]0;owned\u0007${'y'.repeat(2000)}` };
    const res = await pgdr(['status', 'demo']);
    expect(res.exitCode, res.stderr).toBe(1);
    expect(res.stderr).toContain('\\x1b[2J\\x1b]0;owned\\x07yyy');
    expect(res.stderr).toContain('... (2014 characters)');
    expect(res.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(res.stderr.length).toBeLessThan(800);
  });
});
