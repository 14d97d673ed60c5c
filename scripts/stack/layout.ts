/**
 * Where the dev stack keeps its state and which ports it uses. Everything lives under one
 * directory (PGDR_STACK_DIR, default <repo>/.pgdr-stack/demo); logs stay there after stop.
 * PGDR_PORT_OFFSET shifts every port, so a test stack can run beside the demo stack.
 */
import { resolve, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export interface StackLayout {
  dir: string;
  toolsBin: string;
  tls: string;
  /** The secondary MinIO's own CA and certificate. */
  tlsSecondary: string;
  secrets: string;
  logs: string;
  run: string;
  configFile: string;
  envFile: string;
  pgBin: string;
  pgUser: string;
  ports: {
    temporal: number;
    temporalUi: number;
    temporalHttp: number;
    temporalMetrics: number;
    minio: number;
    minioConsole: number;
    /** The second MinIO (the secondary repository): its own port, keys and CA. */
    minioSecondary: number;
    minioSecondaryConsole: number;
    api: number;
    pg: { primary: number; replica: number };
  };
}

export function stackLayout(env: NodeJS.ProcessEnv = process.env): StackLayout {
  const dir = resolve(env.PGDR_STACK_DIR ?? join(repoRoot, '.pgdr-stack', 'demo'));
  const offset = Number(env.PGDR_PORT_OFFSET ?? 0);
  // The highest base port is the replica's 55433: every shifted port must stay <= 65535.
  const maxOffset = 65535 - 55433;
  if (!Number.isInteger(offset) || offset < 0 || offset > maxOffset) {
    throw new Error(`PGDR_PORT_OFFSET is "${env.PGDR_PORT_OFFSET}": expected an integer from 0 to ${maxOffset}`);
  }
  const toolsDir = env.PGDR_TOOLS_DIR ?? join(homedir(), '.cache', 'pgdr', 'tools');
  return {
    dir,
    toolsBin: join(toolsDir, 'bin'),
    tls: join(dir, 'tls'),
    tlsSecondary: join(dir, 'tls-secondary'),
    secrets: join(dir, 'secrets'),
    logs: join(dir, 'logs'),
    run: join(dir, 'run'),
    configFile: join(dir, 'pgdr.yaml'),
    envFile: join(dir, 'env'),
    pgBin: env.PGDR_PG_BIN ?? '/usr/lib/postgresql/15/bin',
    pgUser: env.PGDR_PG_OS_USER ?? 'postgres',
    ports: {
      temporal: 7233 + offset,
      temporalUi: 8233 + offset,
      temporalHttp: 7243 + offset,
      temporalMetrics: 7253 + offset,
      minio: 9000 + offset,
      minioConsole: 9001 + offset,
      minioSecondary: 9002 + offset,
      minioSecondaryConsole: 9003 + offset,
      api: 8484 + offset,
      pg: { primary: 55432 + offset, replica: 55433 + offset },
    },
  };
}
