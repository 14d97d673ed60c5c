/**
 * Storage without static keys in the config: the AWS default credential chain. Temporary
 * credentials come from MinIO's STS (AssumeRole, signed with the stack's root keys) and reach
 * `pgdr wal push|fetch` and pgBackRest only as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN of the process. With no credentials anywhere, pgdr says so, naming the fields.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { Agent } from 'node:https';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/nested-clients/sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { parse } from 'yaml';
import { inject } from 'vitest';
import { repoRoot } from '../../scripts/stack/layout.js';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { walFolder } from '../../adapters/catalogStore.js';
import { pgbackrest } from '../../adapters/pgbackrest.js';
import { ToolFailedError } from '../../domain/errors.js';

interface TempCredentials {
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_SESSION_TOKEN: string;
}

/** AssumeRole at MinIO's STS endpoint (the S3 endpoint itself), signed with the stack's root keys. */
async function assumeRole(): Promise<TempCredentials> {
  const stack = parse(readFileSync(inject('configPath'), 'utf8')).storage;
  const read = createSecretReader();
  const sts = new STSClient({
    endpoint: stack.endpoint,
    region: stack.region,
    credentials: { accessKeyId: read(stack.accessKeyId, 'key'), secretAccessKey: read(stack.secretAccessKey, 'secret') },
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: readFileSync(stack.caFile) }) }),
  });
  const res = await sts.send(
    new AssumeRoleCommand({ RoleArn: 'arn:minio:iam:::role/pgdr-test', RoleSessionName: 'pgdr-test', DurationSeconds: 900 }),
  );
  sts.destroy();
  const c = res.Credentials!;
  return { AWS_ACCESS_KEY_ID: c.AccessKeyId!, AWS_SECRET_ACCESS_KEY: c.SecretAccessKey!, AWS_SESSION_TOKEN: c.SessionToken! };
}

describe('storage credentials from the AWS default chain', () => {
  let tc: TestCluster;
  let dir: string;
  let creds: TempCredentials;
  /** An environment with no AWS credentials source at all: no AWS_* keys, no profile files, no instance metadata. */
  let bare: Record<string, string>;
  /** A client with the stack's static keys, to look at what the keyless processes stored. */
  const withKeys = () => {
    const stack = parse(readFileSync(inject('configPath'), 'utf8')).storage;
    return createS3Client(
      { ...tc.config.storage, accessKeyId: stack.accessKeyId, secretAccessKey: stack.secretAccessKey },
      createSecretReader(),
    );
  };
  const wal = (args: string[], env: Record<string, string>) =>
    execa(join(repoRoot, 'bin/pgdr'), ['wal', ...args.slice(0, 1), '--config', tc.configPath, '--cluster', tc.name, ...args.slice(1)], {
      reject: false,
      cwd: dir,
      env: { ...bare, ...env },
      extendEnv: false,
    });

  /** The temporary key pair without its session token. */
  const keysOnly = () => ({ AWS_ACCESS_KEY_ID: creds.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: creds.AWS_SECRET_ACCESS_KEY });

  beforeAll(async () => {
    tc = testCluster('stscred', undefined, (raw) => {
      delete raw.storage.accessKeyId;
      delete raw.storage.secretAccessKey;
      raw.storage.serverSideEncryption = 'aes256';
    });
    expect(tc.config.storage.accessKeyId).toBeUndefined();
    dir = mkdtempSync(join(tmpdir(), 'pgdr-sts-'));
    bare = {
      PATH: process.env.PATH!,
      HOME: dir,
      AWS_CONFIG_FILE: join(dir, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    creds = await assumeRole();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pushes and fetches WAL with temporary credentials and session token from the environment', async () => {
    expect(creds.AWS_SESSION_TOKEN.length).toBeGreaterThan(20);
    const name = '000000010000000000000001';
    const content = randomBytes(64 * 1024);
    writeFileSync(join(dir, name), content);
    const pushed = await wal(['push', join(dir, name)], { ...creds });
    expect(pushed.stderr).toBe('');
    expect(pushed.exitCode).toBe(0);

    // Stored where a keyed config finds it, encrypted as configured.
    const head = await withKeys().send(
      new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: `${walFolder(tc.config.storage, tc.name)}${name}.zst` }),
    );
    expect(head.ServerSideEncryption).toBe('AES256');

    const fetched = await wal(['fetch', name, join(dir, 'back')], { ...creds });
    expect(fetched.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'back')).equals(content)).toBe(true);

    // The session token is what makes the temporary keys valid: without it MinIO refuses them.
    const refused = await wal(['push', join(dir, name)], keysOnly());
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).not.toContain('storage credentials');
  });

  it('fails with an error naming the storage credentials when neither the config nor the chain has any', async () => {
    writeFileSync(join(dir, '000000010000000000000002'), randomBytes(1024));
    const res = await wal(['push', join(dir, '000000010000000000000002')], {});
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toContain(
      'pgdr wal push: secret for storage credentials is not available: storage.accessKeyId and storage.secretAccessKey are not set, ' +
        'and the AWS default credential chain found none',
    );
    expect(res.stderr).toContain('HINT: set storage.accessKeyId and storage.secretAccessKey, or give this process AWS credentials');
  });

  it('hands pgBackRest the temporary credentials and session token from the environment', async () => {
    const node = Object.keys(tc.config.clusters[tc.name]!.nodes)[0]!;
    const repo = `${tc.config.storage.prefix}/${tc.name}/pgbackrest`;
    await withKeys().send(new PutObjectCommand({ Bucket: tc.config.storage.bucket, Key: `${repo}/marker`, Body: 'x' }));
    const deps = { config: tc.config, readSecret: createSecretReader() };
    const saved = { ...process.env };
    const ls = async (env: Partial<TempCredentials>) => {
      Object.assign(process.env, env);
      try {
        return await pgbackrest(deps, tc.name, node, ['--output=text', 'repo-ls']);
      } finally {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
      }
    };
    expect((await ls(creds)).stdout.split('\n')).toContain('marker');
    await expect(ls(keysOnly())).rejects.toBeInstanceOf(ToolFailedError);
  });
});
