/** The age filter (real `age` binary): round trips, every identity tried, key problems named, identity files short-lived. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { parseConfig } from '../../config/load.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { decryptBuffer, decryptStream, encryptBuffer, encryptStream, openIdentities } from '../../adapters/age.js';
import { EncryptionKeyError } from '../../domain/errors.js';

async function key(dir: string, name: string) {
  const file = join(dir, name);
  await execa('age-keygen', ['-o', file]);
  return { file, recipient: (await execa('age-keygen', ['-y', file])).stdout.trim() };
}

const configWith = (identities: unknown[]) =>
  parseConfig({
    storage: { endpoint: 'https://127.0.0.1:9000', bucket: 'pgdr' },
    clusters: { main: { sslmode: 'disable', nodes: { a: { dataDir: '/var/lib/pg/a' } }, encryption: { identities } } },
  });

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('age', () => {
  let dir: string;
  let oldKey: { file: string; recipient: string };
  let newKey: { file: string; recipient: string };
  const read = createSecretReader({});
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-age-test-'));
    oldKey = await key(dir, 'old');
    newKey = await key(dir, 'new');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips a buffer and a stream, trying every configured identity', async () => {
    const data = randomBytes(300_000);
    const config = configWith([{ file: oldKey.file }, { file: newKey.file }]);
    const sealed = await encryptBuffer(data, [newKey.recipient]);
    expect(sealed.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect(sealed.indexOf(data.subarray(0, 64))).toBe(-1);
    expect((await decryptBuffer(config, read, 'main', 'obj', sealed)).equals(data)).toBe(true);

    const signal = new AbortController().signal;
    const enc = encryptStream(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), [oldKey.recipient], signal);
    const [ciphertext] = await Promise.all([collect(enc.output), enc.done]);
    const dec = decryptStream(config, read, 'main', 'obj', Readable.from([ciphertext]), signal);
    const [plain] = await Promise.all([collect(dec.output), dec.done]);
    expect(plain.equals(data)).toBe(true);
  });

  it('names the object when no configured identity matches its recipients', async () => {
    const sealed = await encryptBuffer(Buffer.from('x'), [oldKey.recipient]);
    const err = await decryptBuffer(configWith([{ file: newKey.file }]), read, 'main', 's3://pgdr/w/1', sealed).catch((e) => e);
    expect(err).toBeInstanceOf(EncryptionKeyError);
    expect(err.code).toBe('ENCRYPTION_KEY_UNAVAILABLE');
    expect(err.message.split('\n')[0]).toBe(
      'cannot decrypt s3://pgdr/w/1 of cluster "main": none of the configured age identities matches its recipients',
    );
  });

  it('names the cluster field when no identity is listed or none is readable here', async () => {
    const none = await decryptBuffer(configWith([]), read, 'main', 'obj', Buffer.from('x')).catch((e) => e);
    expect(none.message.split('\n')[0]).toBe(
      'cannot decrypt obj of cluster "main": clusters.main.encryption.identities lists no age identity',
    );
    const missing = await decryptBuffer(configWith([{ env: 'PGDR_NO_SUCH_AGE_KEY' }]), read, 'main', 'obj', Buffer.from('x')).catch(
      (e) => e,
    );
    expect(missing).toBeInstanceOf(EncryptionKeyError);
    expect(missing.message).toContain('no age identity is readable on this worker: secret for clusters.main.encryption.identities.0');
    expect(missing.message).toContain('PGDR_NO_SUCH_AGE_KEY is not set');
  });

  it('writes the identities 0600 into a private directory and removes it on close', () => {
    const ids = openIdentities(configWith([{ file: oldKey.file }]), read, 'main', 'obj');
    expect(statSync(ids.path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(ids.path)).mode & 0o777).toBe(0o700);
    ids.close();
    expect(existsSync(dirname(ids.path))).toBe(false);
  });
});
