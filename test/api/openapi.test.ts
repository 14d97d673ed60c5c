/**
 * The OpenAPI document is a contract: Redocly lints it with no error, openapi-typescript turns
 * it into types with typed response bodies, and a client compiled against those types reads the
 * fields the routes really answer with. Needs no stack.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { allRoutes, API_VERSION } from '../../api/server.js';
import { configuredServer, openApiDocument, openApiPath } from '../../api/openapi.js';
import { repoRoot } from '../../scripts/stack/layout.js';

const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);
const doc = openApiDocument(allRoutes, API_VERSION, [configuredServer('127.0.0.1', 8484)]);

type Operation = {
  operationId: string;
  parameters?: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
};
const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, op]) => ({ path, method, op: op as Operation })),
);

/**
 * Redocly's recommended rules, with one turned off: info-license (the project declares no
 * license; the document must not invent one).
 */
const REDOCLY_CONFIG = `extends:
  - recommended
rules:
  info-license: off
`;

describe('OpenAPI document', () => {
  it('names every route once, with a unique operationId and a {workflowId} path parameter in place of *', () => {
    expect(operations.length).toBe(allRoutes.length);
    const ids = operations.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => /^[a-z][A-Za-z]+$/.test(id))).toBe(true);
    expect(Object.keys(doc.paths).filter((p) => p.includes('*') || p.includes(':'))).toEqual([]);
    const op = doc.paths['/api/v1/operations/{workflowId}']?.get as Operation;
    expect(op.parameters).toEqual([expect.objectContaining({ name: 'workflowId', in: 'path', required: true })]);
    expect(allRoutes.map(openApiPath)).toContain('/api/v1/operations/{workflowId}');
    expect(doc.servers).toEqual([expect.objectContaining({ url: 'http://{host}:{port}' })]);
  });

  it('gives every answer a schema: a success its body, an error the shared envelope', () => {
    for (const { path, method, op } of operations) {
      for (const [status, res] of Object.entries(op.responses)) {
        const media = Object.entries(res.content ?? {});
        expect(media.length, `${method} ${path} ${status}`).toBe(1);
        const [type, { schema }] = media[0]!;
        if (Number(status) >= 400 && !(path === '/healthz' && status === '503')) {
          expect([type, schema], `${method} ${path} ${status}`).toEqual(['application/json', { $ref: '#/components/schemas/Error' }]);
        } else {
          expect(schema.$ref, `${method} ${path} ${status}`).toBeUndefined();
          expect(Object.keys(schema).length, `${method} ${path} ${status}`).toBeGreaterThan(0);
        }
      }
      if (path !== '/healthz')
        expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['400', '401', '500']));
    }
    // What the routes really answer: a busy cluster, an unmet precondition, Temporal away, a body too large.
    const restore = doc.paths['/api/v1/clusters/{cluster}/restores']!.post as Operation;
    expect(Object.keys(restore.responses).sort()).toEqual(['200', '202', '400', '401', '404', '409', '413', '415', '422', '500', '503']);
    const switchover = doc.paths['/api/v1/clusters/{cluster}/switchover']!.post as Operation;
    expect(Object.keys(switchover.responses)).toEqual(expect.arrayContaining(['202', '409', '412', '422', '503']));
  });

  it(
    'passes redocly lint with no error and no warning, and openapi-typescript types every response body',
    { timeout: 180_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pgdr-openapi-'));
      try {
        writeFileSync(join(dir, 'openapi.json'), JSON.stringify(doc, null, 2));
        writeFileSync(join(dir, 'redocly.yaml'), REDOCLY_CONFIG);
        const env = { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' };
        const lint = await execa(bin('redocly'), ['lint', 'openapi.json', '--config', 'redocly.yaml', '--format', 'json'], {
          cwd: dir,
          env,
          reject: false,
        });
        const problems = (JSON.parse(lint.stdout) as { problems: { ruleId: string; severity: string; message: string }[] }).problems;
        expect(problems.map((p) => `${p.severity} ${p.ruleId}: ${p.message}`)).toEqual([]);
        expect(lint.exitCode, lint.stderr).toBe(0);

        const gen = await execa(bin('openapi-typescript'), ['openapi.json', '-o', 'api.d.ts'], { cwd: dir, env, reject: false });
        expect(gen.exitCode, gen.stderr).toBe(0);
        expect(readFileSync(join(dir, 'api.d.ts'), 'utf8')).toContain('"/api/v1/operations/{workflowId}"');
        // A client reads typed fields of the answers; a wrong field name or type fails to compile.
        writeFileSync(
          join(dir, 'client.ts'),
          `import type { paths, components } from './api.js';
type Body<P extends keyof paths, M extends 'get' | 'post' | 'delete', S extends number> =
  paths[P][M] extends { responses: Record<S, { content: { 'application/json': infer B } }> } ? B : never;
type Restore = Body<'/api/v1/clusters/{cluster}/restores', 'post', 202>;
declare const restore: Restore;
export const port: number = restore.destination.port;
export const backupId: string = restore.backupId;
export const workflowId: string = restore.workflowId;
declare const status: Body<'/api/v1/clusters/{cluster}/status', 'get', 200>;
export const primary: string | null = status.primary;
export const lag: number | null | undefined = status.nodes[0]?.lagBytes;
declare const op: Body<'/api/v1/operations/{workflowId}', 'get', 200>;
export const state: string = op.status;
declare const busy: Body<'/api/v1/clusters/{cluster}/restores', 'post', 409>;
export const code: string = busy.error.code;
export const sameError: components['schemas']['Error'] = busy;
// @ts-expect-error the restore's answer has no such field
export const wrong = restore.noSuchField;
`,
        );
        const tsc = await execa(
          bin('tsc'),
          [
            '--noEmit',
            '--strict',
            '--skipLibCheck',
            '--module',
            'nodenext',
            '--moduleResolution',
            'nodenext',
            '--target',
            'es2022',
            'client.ts',
          ],
          { cwd: dir, reject: false },
        );
        expect(tsc.exitCode, tsc.stdout + tsc.stderr).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
