/**
 * Where a backup's time goes, stage by stage, on the bench database, each stage measured in the
 * same run: pg_basebackup's own output into a pipe; with zstd; read and hashed by Node (pgdr's
 * read path); to a local file (the first anchor); piped into MinIO by its own client, `mc pipe`
 * (the second anchor: the raw tools landing in S3, TLS and multipart and MinIO's ingest on these
 * cores); and Node's read, hash and SDK multipart upload with pgdr's part size and queue (the
 * streaming activity without the workflow around it). `mc` is built once into the tool cache.
 */
import { execa } from 'execa';
import { chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Upload } from '@aws-sdk/lib-storage';
import { asUser, runTool, spawnTool } from '../adapters/gateway.js';
import { hashingCounter } from '../adapters/objectCopy.js';
import { createS3Client } from '../adapters/storage.js';
import { uploadStream } from '../adapters/partUpload.js';
import { openPipeReader } from '../adapters/pipeReader.js';
import { createSecretReader } from '../adapters/secrets.js';
import { QUEUE_SIZE, partSizeFor } from '../activities/steps/basebackup.js';
import { loadConfig } from '../config/load.js';
import type { benchStack } from './stack.js';
import { median } from './stack.js';

/** MinIO's client, pinned like MinIO itself (scripts/bootstrap.sh), built with go install into the tool cache once. */
const MC_MODULE = 'github.com/minio/mc';
const MC_VERSION = 'v0.0.0-20250313080218-cf909e1063a9';

export interface Stage {
  name: string;
  seconds: number;
}

async function ensureMc(): Promise<string> {
  const bin = join(process.env.PGDR_TOOLS_DIR ?? join(homedir(), '.cache', 'pgdr', 'tools'), 'bin');
  const mc = join(bin, 'mc');
  if (existsSync(mc)) return mc;
  console.log(`bench: building ${MC_MODULE}@${MC_VERSION} with go install (once per machine; several minutes)`);
  mkdirSync(bin, { recursive: true });
  await execa('go', ['install', `${MC_MODULE}@${MC_VERSION}`], { env: { GOBIN: bin, GOFLAGS: '-trimpath' }, stdio: 'inherit' });
  return mc;
}

/** The two anchors as commands of their own, so the bench can run them between the workflow's runs. */
export interface Anchors {
  /** `pg_basebackup -Ft --compress=client-zstd` to a local file (anchor 1): seconds, and the file's size. */
  toFile(): Promise<{ seconds: number; bytes: number }>;
  /** The same `| mc pipe` into the stack's MinIO over TLS (anchor 2); seconds. */
  toS3(): Promise<number>;
  /** Anchor 2 with pg_basebackup over TCP and TLS to its server, when the anchors use the socket; seconds. */
  toS3OverTcp?(): Promise<number>;
}

/** Each stage `runs` times (median), on the stack's primary; and the anchors for the caller to interleave. */
export async function backupStages(
  stack: Awaited<ReturnType<typeof benchStack>>,
  runs: number,
  databaseBytes: number,
): Promise<{ stages: Stage[]; anchors: Anchors }> {
  const { layout, plan, secrets } = stack;
  const config = loadConfig(layout.configFile);
  const storage = config.storage;
  const readSecret = createSecretReader();
  const scratch = join(layout.dir, 'bench-stages');
  mkdirSync(scratch, { recursive: true });
  const ids = asUser(layout.pgUser);
  if (ids) chownSync(scratch, ids.uid, ids.gid);
  // The pipelines run as root: pg_basebackup drops to the Postgres user (setpriv keeps the
  // environment, so the password stays out of argv), mc stays root (it lives in root's tool cache).
  const asPg = ids ? `setpriv --reuid=${ids.uid} --regid=${ids.gid} --clear-groups ` : '';
  // The anchors connect as pgdr's backup does: over the server's socket when the node has
  // socketDir (the agent shares the server's host), else over TCP and TLS.
  const socketDir = config.clusters.demo?.nodes[plan.primary.name]?.socketDir;
  const tool = (host: string) =>
    `${asPg}${layout.pgBin}/pg_basebackup -h ${host} -p ${plan.primary.port} -U pgdr -D - -F t -X fetch -c fast --no-password`;
  const base = tool(socketDir ?? '127.0.0.1');
  const zstd = `${base} --compress=client-zstd`;
  // HOME: libpq looks for client certificates there (the Postgres user's, not root's).
  const env = { PGPASSWORD: secrets.pgdrPassword, ...(ids ? { HOME: ids.home } : {}) };

  // mc reads its host and keys from MC_HOST_<alias> (never argv) and trusts the CAs in <config-dir>/certs/CAs.
  const mc = await ensureMc();
  const mcDir = join(scratch, 'mc');
  mkdirSync(join(mcDir, 'certs', 'CAs'), { recursive: true });
  if (storage.caFile) writeFileSync(join(mcDir, 'certs', 'CAs', 'ca.crt'), readFileSync(storage.caFile));
  const url = new URL(storage.endpoint!);
  const key = encodeURIComponent(readSecret(storage.accessKeyId!, 'storage.accessKeyId'));
  const secret = encodeURIComponent(readSecret(storage.secretAccessKey!, 'storage.secretAccessKey'));
  const mcEnv = { ...env, MC_HOST_bench: `${url.protocol}//${key}:${secret}@${url.host}` };
  const object = `${storage.prefix}/bench-stages/base.tar.zst`;

  // Only the pipeline is timed: nothing before or after it (the file stage's file is removed after).
  const once = async (command: string, extraEnv: Record<string, string> = env): Promise<number> => {
    const t0 = Date.now();
    await runTool({ tool: 'bash', args: ['-o', 'pipefail', '-c', command], env: extraEnv });
    return (Date.now() - t0) / 1000;
  };
  const timed = async (name: string, run: () => Promise<number>): Promise<Stage> => {
    const times: number[] = [];
    for (let i = 0; i < runs; i++) times.push(await run());
    return { name, seconds: median(times) };
  };
  const shell = (name: string, command: string) => timed(name, () => once(command));
  const file = join(scratch, 'raw.tar.zst');
  const anchors: Anchors = {
    toFile: async () => {
      const seconds = await once(`${zstd} > ${file}`);
      const bytes = statSync(file).size;
      rmSync(file, { force: true });
      return { seconds, bytes };
    },
    toS3: () => once(`${zstd} | ${mc} --config-dir ${mcDir} --quiet pipe bench/${storage.bucket}/${object} >/dev/null`, mcEnv),
    ...(socketDir
      ? {
          toS3OverTcp: () =>
            once(
              `${tool('127.0.0.1')} --compress=client-zstd | ${mc} --config-dir ${mcDir} --quiet pipe bench/${storage.bucket}/${object} >/dev/null`,
              mcEnv,
            ),
        }
      : {}),
  };
  const stages: Stage[] = [];
  stages.push(await shell('pg_basebackup, no compression, into a pipe (wc -c)', `${base} | wc -c >/dev/null`));
  stages.push(await shell('pg_basebackup zstd into a pipe (wc -c)', `${zstd} | wc -c >/dev/null`));
  stages.push(await shell('pg_basebackup zstd | sha256sum (a process of its own)', `${zstd} | sha256sum >/dev/null`));
  stages.push(await timed('pg_basebackup zstd to a local file (anchor 1)', async () => (await anchors.toFile()).seconds));
  stages.push(await timed('pg_basebackup zstd | mc pipe to MinIO (anchor 2)', anchors.toS3));

  // Node: pgdr's read path (the spawned tool's stdout, hashed as read, copied into kept part
  // buffers), first into nothing, then uploaded as the backup uploads (uploadStream).
  const s3 = createS3Client(storage, readSecret);
  const node = (name: string, sink: (stdout: Readable) => Promise<unknown>): Promise<Stage> =>
    timed(name, async () => {
      const t0 = Date.now();
      const proc = spawnTool({ tool: 'bash', args: ['-c', zstd], env, streamStdout: true });
      await Promise.all([sink(proc.stdout!), proc]);
      return (Date.now() - t0) / 1000;
    });
  const partSize = partSizeFor(databaseBytes);
  stages.push(
    await node('Node: read, sha256 and copy into part buffers (pgdr read path)', async (stdout) => {
      const hash = createHash('sha256');
      const buf = Buffer.allocUnsafeSlow(partSize);
      let filled = 0;
      for await (const chunk of stdout as AsyncIterable<Buffer>) {
        hash.update(chunk);
        for (let at = 0; at < chunk.length;) {
          const n = chunk.copy(buf, filled, at);
          at += n;
          filled = (filled + n) % partSize;
        }
      }
      hash.digest();
    }),
  );
  stages.push(
    await node('Node: read, sha256 and multipart upload (pgdr uploadStream, its parts and queue; stdout stream)', (stdout) =>
      uploadStream(stdout, {
        s3,
        params: { Bucket: storage.bucket, Key: `${storage.prefix}/bench-stages/node.tar.zst` },
        partSize,
        queueSize: QUEUE_SIZE,
        hash: true,
      }),
    ),
  );
  stages.push(
    await timed('Node: the same read from a named pipe into the part buffers (pgdr uploadBaseBackup since 2026-12-02)', async () => {
      const t0 = Date.now();
      const pipe = await openPipeReader();
      try {
        const proc = spawnTool({ tool: 'bash', args: ['-c', zstd], env, streamStdout: true, stdoutFd: pipe.writeFd });
        pipe.closeWriter();
        await Promise.all([
          uploadStream(pipe, {
            s3,
            params: { Bucket: storage.bucket, Key: `${storage.prefix}/bench-stages/node.tar.zst` },
            partSize,
            queueSize: QUEUE_SIZE,
            hash: true,
          }),
          proc,
        ]);
      } finally {
        await pipe.close();
      }
      return (Date.now() - t0) / 1000;
    }),
  );
  stages.push(
    await node("Node: the same through lib-storage's Upload and a hashing Transform (pgdr until 2026-12-02)", (stdout) =>
      new Upload({
        client: s3,
        params: { Bucket: storage.bucket, Key: `${storage.prefix}/bench-stages/node.tar.zst`, Body: stdout.pipe(hashingCounter()) },
        partSize,
        queueSize: QUEUE_SIZE,
      }).done(),
    ),
  );
  s3.destroy();
  return { stages, anchors };
}
