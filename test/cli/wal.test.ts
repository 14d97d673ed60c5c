/**
 * `pgdr wal push` and `pgdr wal fetch` as Postgres runs them (the bundled launcher, a real
 * MinIO): idempotent push, never an overwrite, verified fetch, and exit codes Postgres acts on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { repoRoot } from '../../scripts/stack/layout.js';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { walFolder } from '../../adapters/catalogStore.js';

describe('pgdr wal push / fetch', () => {
  let tc: TestCluster;
  let dir: string;
  const s3 = () => createS3Client(tc.config.storage, createSecretReader());
  const wal = (args: string[]) =>
    execa(join(repoRoot, 'bin/pgdr'), ['wal', ...args.slice(0, 1), '--config', tc.configPath, '--cluster', tc.name, ...args.slice(1)], {
      reject: false,
      cwd: dir,
    });
  const file = (name: string, content: Buffer) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  beforeAll(() => {
    tc = testCluster('walcli');
    dir = mkdtempSync(join(tmpdir(), 'pgdr-wal-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pushes once, accepts a repeat of the same content, and refuses different content without overwriting', async () => {
    const name = '000000010000000000000001';
    const original = randomBytes(1024 * 1024);
    const path = file(name, original);
    expect((await wal(['push', path])).exitCode).toBe(0);
    const key = `${walFolder(tc.config.storage, tc.name)}${name}.zst`;
    const head = await s3().send(new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: key }));
    expect(head.Metadata).toMatchObject({ sha256: sha(original), bytes: String(original.length), compression: 'zstd' });

    // archive_command retried after a crash: same bytes, success, nothing rewritten.
    expect((await wal(['push', path])).exitCode).toBe(0);
    const again = await s3().send(new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: key }));
    expect(again.ETag).toBe(head.ETag);

    const changed = Buffer.concat([original.subarray(0, 1000), Buffer.from('tampered'), original.subarray(1008)]);
    file(name, changed);
    const refused = await wal(['push', path]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`WAL file ${name} of cluster "${tc.name}" is already archived at ${key} with different content`);
    expect(refused.stderr).toContain(`archived sha256 ${sha(original)}, local ${sha(changed)}`);
    const after = await s3().send(new HeadObjectCommand({ Bucket: tc.config.storage.bucket, Key: key }));
    expect(after.ETag).toBe(head.ETag);

    // And the archive still hands out the original.
    expect((await wal(['fetch', name, join(dir, 'restored')])).exitCode).toBe(0);
    expect(sha(readFileSync(join(dir, 'restored')))).toBe(sha(original));
  });

  it('handles history, partial and backup files, and refuses names that are not WAL', async () => {
    for (const name of ['00000002.history', '000000010000000000000002.partial', '000000010000000000000002.00000028.backup']) {
      const content = Buffer.from(`content of ${name}\n`);
      expect((await wal(['push', file(name, content)])).exitCode).toBe(0);
      expect((await wal(['fetch', name, join(dir, `got-${name}`)])).exitCode).toBe(0);
      expect(readFileSync(join(dir, `got-${name}`)).equals(content)).toBe(true);
    }
    const bad = await wal(['push', file('RECOVERYXLOG', Buffer.from('x'))]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('invalid WAL file name "RECOVERYXLOG"');
  });

  it('fetch: exit 1 for a file the archive does not have, 126 (stop recovery) for a corrupt one, leaving no file', async () => {
    const missing = await wal(['fetch', '0000000100000000000000AA', join(dir, 'nothing')]);
    expect(missing.exitCode).toBe(1);
    expect(existsSync(join(dir, 'nothing'))).toBe(false);

    const name = '000000010000000000000003';
    const key = `${walFolder(tc.config.storage, tc.name)}${name}`;
    await s3().send(
      new PutObjectCommand({
        Bucket: tc.config.storage.bucket,
        Key: key,
        Body: Buffer.from('not what was pushed'),
        Metadata: { sha256: sha(Buffer.from('the real segment')), compression: 'none' },
      }),
    );
    const corrupt = await wal(['fetch', name, join(dir, 'corrupt')]);
    expect(corrupt.exitCode).toBe(126);
    expect(corrupt.stderr).toContain(`archived WAL object ${key} of cluster "${tc.name}" is corrupt: sha256`);
    expect(existsSync(join(dir, 'corrupt'))).toBe(false);
  });

  it('answers a usage error with exit 2 and the usage', async () => {
    const res = await execa(join(repoRoot, 'bin/pgdr'), ['wal', 'push', '/tmp/x'], { reject: false });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('pgdr wal: --cluster is required');
    expect(res.stderr).toContain('usage:');
  });
});
