/**
 * The CLI facing an answer that is not pgdr's: a proxy's HTML error page, plain text, a
 * truncated body. It prints the status and the text (escaped), exits 1, and never crashes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../scripts/stack/layout.js';
import { fakeApi, runPgdr, type FakeApi } from './fakeApi.js';

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

  const pgdr = (args: string[]) =>
    execa(join(repoRoot, 'bin/pgdr'), args, { env: { PGDR_API_URL: url, PGDR_API_TOKEN: 'x' }, reject: false });

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
    expect(res.stderr).toContain(
      'answered http 200 with a body that is not JSON (content-type application/json): {"cluster": "demo", "nodes": [',
    );
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

describe('pgdr --api-url and PGDR_API_TOKEN_FILE', { timeout: 600_000 }, () => {
  let api: FakeApi;
  let dir: string;
  const backups = '/api/v1/clusters/demo/backups';

  beforeAll(async () => {
    api = await fakeApi();
    api.routes.set(`GET ${backups}`, { status: 200, body: { backups: [] } });
    dir = mkdtempSync(join(tmpdir(), 'pgdr-token-'));
  });
  afterAll(async () => {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tokenFile = (name: string, content: string) => {
    writeFileSync(join(dir, name), content, { mode: 0o600 });
    return join(dir, name);
  };

  it('--api-url wins over PGDR_API_URL (a trailing / is dropped), with no config at all', async () => {
    const before = api.requests.length;
    const res = await runPgdr(['--api-url', `${api.url}/`, 'backups', 'demo'], { PGDR_API_URL: 'http://127.0.0.1:1', PGDR_API_TOKEN: 'x' });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toBe('cluster demo: no backups');
    expect(api.requests.slice(before)).toEqual([{ method: 'GET', path: backups, authorization: 'Bearer x' }]);
    // The option may also follow the command.
    expect((await runPgdr(['backups', 'demo', '--api-url', api.url], { PGDR_API_TOKEN: 'x' })).exitCode).toBe(0);
  });

  it('sends the token read from PGDR_API_TOKEN_FILE, its line break trimmed', async () => {
    const before = api.requests.length;
    const res = await runPgdr(['--api-url', api.url, 'backups', 'demo'], { PGDR_API_TOKEN_FILE: tokenFile('token', 's3cret-token\n') });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(api.requests.slice(before).map((r) => r.authorization)).toEqual(['Bearer s3cret-token']);
    // And with the address from PGDR_API_URL.
    const env = await runPgdr(['backups', 'demo'], { PGDR_API_URL: api.url, PGDR_API_TOKEN_FILE: join(dir, 'token') });
    expect(env.exitCode, env.stderr).toBe(0);
  });

  const bad: { case: string; file: () => string; says: string }[] = [
    { case: 'a missing file', file: () => join(dir, 'nosuch'), says: 'cannot read PGDR_API_TOKEN_FILE "{f}": no such file' },
    { case: 'a directory', file: () => dir, says: 'cannot read PGDR_API_TOKEN_FILE "{f}": it is a directory' },
    { case: 'an empty file', file: () => tokenFile('empty', '\n'), says: 'PGDR_API_TOKEN_FILE "{f}" is empty: expected the API token' },
    { case: 'two lines', file: () => tokenFile('two', 'a\nb\n'), says: 'PGDR_API_TOKEN_FILE "{f}" holds more than one line or word' },
  ];

  it.each(bad)('refuses $case, naming the file and the problem, exit 3, asking nothing', async ({ file, says }) => {
    const before = api.requests.length;
    const f = file();
    const res = await runPgdr(['--api-url', api.url, 'backups', 'demo'], { PGDR_API_TOKEN_FILE: f });
    expect(res.exitCode).toBe(3);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(`pgdr: ${says.replace('{f}', f)}`);
    expect(api.requests.length).toBe(before);
  });

  it('refuses PGDR_API_TOKEN_FILE and PGDR_API_TOKEN together, and --api-url with no token anywhere', async () => {
    const env = { PGDR_API_TOKEN_FILE: tokenFile('t2', 'x'), PGDR_API_TOKEN: 'y' };
    const both = await runPgdr(['--api-url', api.url, 'backups', 'demo'], env);
    expect(both.exitCode).toBe(3);
    expect(both.stderr).toContain('both PGDR_API_TOKEN_FILE and PGDR_API_TOKEN are set: expected one of them');
    const none = await runPgdr(['--api-url', api.url, 'backups', 'demo'], {});
    expect(none.exitCode).toBe(3);
    expect(none.stderr).toContain('no API token: set PGDR_API_TOKEN_FILE to a file holding it, or PGDR_CONFIG to a pgdr.yaml');
  });

  it('has no option that takes the token itself', async () => {
    const res = await runPgdr(['--api-url', api.url, 'backups', 'demo', '--token', 'x'], { PGDR_API_TOKEN: 'x' });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain("unknown option '--token'");
  });
});
