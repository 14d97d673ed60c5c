/**
 * Client-side encryption at rest with age (https://age-encryption.org), run as the `age` binary
 * through the gateway: a standard, audited, streaming format a user can decrypt without pgdr.
 *
 * - Encrypting needs only the recipients (public keys) from the config, so a backup host can
 *   write objects it cannot read back.
 * - Decrypting needs the identities (private keys), secret refs resolved at the moment of use,
 *   written 0600 into a private temporary directory for age's -i and removed right after; never
 *   in argv, env or a workflow's history. age tries every identity in the file.
 * - An encrypted object says so in its metadata (`encryption: age`); objects without it are read
 *   as before, so a repository can hold both (turning encryption on, or a rotation, needs no rewrite).
 * - The order on the wire is compress, then encrypt; sha256 stays over the compressed plaintext.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import type { PgdrConfig } from '../config/schema.js';
import { clusterOf } from '../config/lookup.js';
import type { EncryptionRecord } from '../domain/catalog.js';
import { EncryptionKeyError, PgdrError, ToolFailedError } from '../domain/errors.js';
import { checkResult, runFilter, spawnTool } from './gateway.js';
import type { SecretReader } from './secrets.js';

/** The object metadata key and value that mark an age-encrypted object. */
export const ENCRYPTION_METADATA = { key: 'encryption', age: 'age' } as const;

/** The recipients new objects of a cluster are encrypted to; empty when encryption is off. */
export function recipientsOf(config: PgdrConfig, cluster: string): string[] {
  const cc = clusterOf(config, cluster);
  return cc.method === 'basebackup' ? cc.encryption.recipients : [];
}

export function recipientFingerprint(recipient: string): string {
  return createHash('sha256').update(recipient).digest('hex');
}

/** The manifest's record for objects written now, or undefined when they are not encrypted. */
export function encryptionRecord(config: PgdrConfig, cluster: string): EncryptionRecord | undefined {
  const recipients = recipientsOf(config, cluster);
  return recipients.length ? { format: 'age', recipients: recipients.map(recipientFingerprint) } : undefined;
}

/** True when an object's S3 metadata marks it age-encrypted. */
export function isAgeEncrypted(metadata: Record<string, string> | undefined): boolean {
  return metadata?.[ENCRYPTION_METADATA.key] === ENCRYPTION_METADATA.age;
}

/** The S3 metadata for an object written now: `{encryption: age}` when the cluster encrypts. */
export function encryptionMetadata(config: PgdrConfig, cluster: string): Record<string, string> {
  return recipientsOf(config, cluster).length ? { [ENCRYPTION_METADATA.key]: ENCRYPTION_METADATA.age } : {};
}

function encryptArgs(recipients: string[]): string[] {
  return ['--encrypt', ...recipients.flatMap((r) => ['-r', r])];
}

/** Encrypts a small payload (a WAL segment) to the recipients. */
export async function encryptBuffer(data: Uint8Array, recipients: string[]): Promise<Buffer> {
  return runFilter('age', encryptArgs(recipients), data);
}

/**
 * Pipes a stream through `age --encrypt`. `output` is the ciphertext; `done` settles when age
 * has exited and rejects with ToolFailedError when it failed (then `output` may be short, so
 * callers must await `done` before they trust what they stored).
 */
export function encryptStream(input: Readable, recipients: string[], signal: AbortSignal): { output: Readable; done: Promise<void> } {
  const proc = spawnTool({ tool: 'age', args: encryptArgs(recipients), signal, streamStdout: true });
  proc.stdin!.on('error', () => undefined); // age died: its exit code tells why
  input.pipe(proc.stdin!);
  return { output: proc.stdout!, done: proc.then((r) => void checkResult('age', r as never)) };
}

/** The identities of a cluster, in a 0600 file of a private temporary directory; close() removes it. */
export interface IdentityFile {
  path: string;
  close(): void;
}

/**
 * Resolves every identity secret of the cluster that this worker can read into one file (age
 * tries each). Throws EncryptionKeyError when the cluster lists none or none is readable here.
 */
export function openIdentities(config: PgdrConfig, readSecret: SecretReader | undefined, cluster: string, object: string): IdentityFile {
  const refs = clusterOf(config, cluster).encryption.identities;
  if (!refs.length) throw new EncryptionKeyError(cluster, object, `clusters.${cluster}.encryption.identities lists no age identity`);
  if (!readSecret) throw new EncryptionKeyError(cluster, object, 'this process has no secret reader');
  const keys: string[] = [];
  const problems: string[] = [];
  refs.forEach((ref, i) => {
    try {
      keys.push(readSecret(ref, `clusters.${cluster}.encryption.identities.${i}`));
    } catch (err) {
      if (!(err instanceof PgdrError)) throw err;
      problems.push(err.message.split('\n')[0]!);
    }
  });
  if (!keys.length) throw new EncryptionKeyError(cluster, object, `no age identity is readable on this worker: ${problems.join('; ')}`);
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-age-'));
  const path = join(dir, 'identities');
  try {
    writeFileSync(path, `${keys.join('\n')}\n`, { mode: 0o600 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { path, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/** age's "no identity matched" as the error that names the object, else the tool failure itself. */
function decryptFailure(err: unknown, cluster: string, object: string): unknown {
  if (err instanceof ToolFailedError && /no identity matched/.test(String(err.context.stderrTail)))
    return new EncryptionKeyError(cluster, object, 'none of the configured age identities matches its recipients');
  return err;
}

/** Decrypts a small payload (a WAL segment, a history file) with the cluster's identities. */
export async function decryptBuffer(
  config: PgdrConfig,
  readSecret: SecretReader | undefined,
  cluster: string,
  object: string,
  data: Uint8Array,
): Promise<Buffer> {
  const ids = openIdentities(config, readSecret, cluster, object);
  try {
    return await runFilter('age', ['--decrypt', '-i', ids.path], data);
  } catch (err) {
    throw decryptFailure(err, cluster, object);
  } finally {
    ids.close();
  }
}

/**
 * Pipes ciphertext through `age --decrypt` with the cluster's identities. `done` settles once
 * age has exited (identity file removed) and rejects with EncryptionKeyError or ToolFailedError.
 */
export function decryptStream(
  config: PgdrConfig,
  readSecret: SecretReader | undefined,
  cluster: string,
  object: string,
  input: NodeJS.ReadableStream,
  signal: AbortSignal,
): { output: Readable; done: Promise<void> } {
  const ids = openIdentities(config, readSecret, cluster, object);
  let proc: ReturnType<typeof spawnTool>;
  try {
    proc = spawnTool({ tool: 'age', args: ['--decrypt', '-i', ids.path], signal, streamStdout: true });
  } catch (err) {
    ids.close();
    throw err;
  }
  // The source's own failure (S3 cut the download) ends age's input and is what `done` reports.
  let inputError: unknown;
  pipeline(input, proc.stdin!, (err) => {
    if (err && (err as { code?: string }).code !== 'EPIPE') inputError ??= err;
  });
  // On failure the source is dropped: nothing reads it any more.
  const drop = () => (input as { destroy?: () => void }).destroy?.();
  const done = proc.then(
    (r) => {
      ids.close();
      if (inputError) throw inputError;
      try {
        checkResult('age', r as never);
      } catch (err) {
        drop();
        throw decryptFailure(err, cluster, object);
      }
    },
    (err: unknown) => {
      ids.close();
      drop();
      throw err;
    },
  );
  return { output: proc.stdout!, done };
}
