/**
 * docker compose cannot run on our machines (no Docker engine), so this checks the file's
 * services and wiring: what must start before what, TLS for MinIO, secrets only by variable,
 * and that the pgdr.yaml it mounts is valid and names the compose services.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfig } from '../config/load.js';
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
    expect(services.certs.command.join(' ')).toContain('scripts/certs.ts /certs minio');
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
    for (const f of [
      'Dockerfile',
      'docker/postgres/Dockerfile',
      'docker/postgres/init-primary.sh',
      'docker/postgres/replica-entrypoint.sh',
      '.env.example',
    ]) {
      expect(existsSync(join(repoRoot, f)), f).toBe(true);
    }
  });
});
