/**
 * Encryption at rest, end to end on Postgres servers of the test's own, with real MinIO:
 * - basebackup method with age: the raw objects in MinIO (base archive, a WAL segment, the
 *   manifest) show no zstd or tar magic and no row content; the README's by-hand runbook (age
 *   CLI, zstd, tar, `pgdr wal fetch`) brings the backup up with every row; a PITR and a drill
 *   on the encrypted cluster hold exactly the rows expected; the retired key still decrypts;
 * - without a readable identity, backups still work (stored unverified) and a restore fails
 *   with ENCRYPTION_KEY_UNAVAILABLE;
 * - pgbackrest method with repo-cipher-type=aes-256-cbc: the repo is encrypted, backup and
 *   restore work, and neither the generated conf nor any process's argv holds the passphrase.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chownSync,
  existsSync,
  mkdirSync,
  statSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { pitrSource, discardRestore, restoreAndWait, type PitrSource } from '../helpers/restore.js';
import { rootFailure } from '../helpers/cluster.js';
import { switchAndArchive, timeAfter } from '../helpers/ticks.js';
import { asUser, runTool } from '../../adapters/gateway.js';
import { baseFolder, manifestKey } from '../../adapters/catalogStore.js';
import { listArchivedWal } from '../../adapters/walStore.js';
import { archiveCommands } from '../../config/archiveCommands.js';
import { freePort } from '../../scripts/stack/procs.js';
import type { DrillReport } from '../../domain/drill.js';
import type { WalCheckResult } from '../../domain/walCheck.js';

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** An age key pair; the identity in a 0600 file owned by the Postgres OS user (restore_command reads it). */
async function ageKey(dir: string, name: string, osUser: string): Promise<{ recipient: string; identityFile: string }> {
  const identityFile = join(dir, name);
  await execa('age-keygen', ['-o', identityFile]);
  chmodSync(identityFile, 0o600);
  const ids = asUser(osUser);
  if (ids) chownSync(identityFile, ids.uid, ids.gid);
  const recipient = (await execa('age-keygen', ['-y', identityFile])).stdout.trim();
  return { recipient, identityFile };
}

function keyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-enc-keys-'));
  chmodSync(dir, 0o711); // passable for the Postgres OS user, not listable
  return dir;
}

async function rawObject(src: PitrSource, key: string): Promise<{ body: Buffer; metadata: Record<string, string> }> {
  const res = await src.c.s3.send(new GetObjectCommand({ Bucket: src.tc.config.storage.bucket, Key: key }));
  return { body: Buffer.from(await res.Body!.transformToByteArray()), metadata: res.Metadata ?? {} };
}

describe('encryption at rest with age (basebackup method)', () => {
  let src: PitrSource;
  let keys: string;
  let retired: { recipient: string; identityFile: string };
  let current: { recipient: string; identityFile: string };
  // A row whose content must never be readable in the bucket.
  const marker = `pgdr-marker-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    keys = keyDir();
    const osUser = 'postgres';
    retired = await ageKey(keys, 'retired.key', osUser);
    current = await ageKey(keys, 'current.key', osUser);
    src = await pitrSource('enc', {
      tickSeconds: 10,
      beforeBackup: async (db) => {
        await db.query(`create table secrets (id int, note text)`);
        await db.query(`insert into secrets values (1, $1)`, [marker]);
      },
      adjust: (cl) => {
        // Rotated: new objects go to the current key only; both identities stay listed.
        cl.encryption = { recipients: [current.recipient], identities: [{ file: retired.identityFile }, { file: current.identityFile }] };
        cl.drill = {
          cron: null,
          largestTables: 2,
          assertions: [{ name: 'marker restored', sql: 'select count(*) from secrets', expect: '= 2' }],
        };
      },
    });
    // A WAL segment written after the backup that holds the marker too.
    await src.db.query(`insert into secrets values (2, $1)`, [marker]);
    await switchAndArchive(src.db);
  }, 300_000);
  afterAll(async () => {
    await src?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  it('stores no zstd or tar magic and no row content in the raw base archive, WAL segment and manifest', async () => {
    const { storage } = src.tc.config;
    expect(src.backup.objects.map((o) => o.name)).toEqual(['base.tar.zst']);
    const base = await rawObject(src, baseFolder(storage, src.tc.name, src.backup.id) + 'base.tar.zst');
    const wal = await listArchivedWal({ config: src.tc.config, s3: src.c.s3 }, src.tc.name);
    const segments = wal.filter((w) => /^[0-9A-F]{24}$/.test(w.name));
    expect(segments.length).toBeGreaterThan(2);
    const manifestRaw = await rawObject(src, manifestKey(storage, src.tc.name, src.backup.id));

    const stored: [string, { body: Buffer; metadata: Record<string, string> }][] = [['base archive', base]];
    for (const seg of segments) stored.push([seg.name, await rawObject(src, seg.key)]);
    for (const [what, obj] of stored) {
      expect(obj.metadata.encryption, what).toBe('age');
      // The age header, then ciphertext: neither compression nor tar framing shows.
      expect(obj.body.subarray(0, 21).toString('latin1'), what).toBe('age-encryption.org/v1');
      expect(obj.body.indexOf(ZSTD_MAGIC), what).toBe(-1);
      expect(obj.body.subarray(257, 262).toString('latin1'), what).not.toBe('ustar');
      expect(obj.body.indexOf('ustar'), what).toBe(-1);
      expect(obj.body.indexOf(marker), what).toBe(-1);
    }
    // The premise: decrypted by hand with the current identity, the archive and the WAL hold the marker.
    const plainBase = (
      await execa('age', ['--decrypt', '-i', current.identityFile], { input: base.body, encoding: 'buffer', stripFinalNewline: false })
    ).stdout;
    expect(Buffer.from(plainBase).subarray(0, 4)).toEqual(ZSTD_MAGIC);
    const tarBytes = Buffer.from(
      (await execa('zstd', ['-d', '-c'], { input: Buffer.from(plainBase), encoding: 'buffer', stripFinalNewline: false })).stdout,
    );
    expect(tarBytes.subarray(257, 262).toString('latin1')).toBe('ustar');
    expect(tarBytes.indexOf(marker)).toBeGreaterThan(0);
    let inWal = 0;
    for (const s of segments) {
      const raw = await rawObject(src, s.key);
      const plain = Buffer.from(
        (await execa('age', ['--decrypt', '-i', current.identityFile], { input: raw.body, encoding: 'buffer', stripFinalNewline: false }))
          .stdout,
      );
      const seg = Buffer.from((await execa('zstd', ['-d', '-c'], { input: plain, encoding: 'buffer', stripFinalNewline: false })).stdout);
      expect(createHash('sha256').update(seg).digest('hex')).toBe(raw.metadata.sha256);
      if (seg.indexOf(marker) >= 0) inWal++;
    }
    expect(inWal).toBeGreaterThan(0);

    // The manifest stays readable (the catalog) and names the key by fingerprint only.
    const manifest = JSON.parse(manifestRaw.body.toString('utf8'));
    expect(manifest.encryption).toEqual({ format: 'age', recipients: [createHash('sha256').update(current.recipient).digest('hex')] });
    const text = manifestRaw.body.toString('utf8');
    for (const secret of [marker, 'AGE-SECRET-KEY', current.recipient, retired.recipient]) expect(text).not.toContain(secret);
    expect(manifestRaw.body.indexOf(ZSTD_MAGIC)).toBe(-1);
    // Verified right after the backup, from the stored (encrypted) object.
    expect(src.backup.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true });
  });

  it('comes up by hand as the README runbook says: age CLI, zstd, tar, then pgdr wal fetch for the WAL', async () => {
    const { storage } = src.tc.config;
    const work = mkdtempSync(join(tmpdir(), 'pgdr-enc-runbook-'));
    const dataDir = join(src.restoreDir, `by-hand-${Date.now()}`);
    src.made.push(dataDir);
    try {
      // 1. Download the object as stored (any S3 client: aws s3 cp, mc cp).
      const raw = await rawObject(src, baseFolder(storage, src.tc.name, src.backup.id) + 'base.tar.zst');
      writeFileSync(join(work, 'base.tar.zst.age'), raw.body);
      // 2. Decrypt, decompress, extract.
      mkdirSync(src.restoreDir, { recursive: true, mode: 0o755 });
      mkdirSync(dataDir, { mode: 0o700 });
      await execa('bash', [
        '-c',
        `set -euo pipefail; age --decrypt -i "$1" "$2" | zstd -d | tar -x -C "$3"`,
        'runbook',
        current.identityFile,
        join(work, 'base.tar.zst.age'),
        dataDir,
      ]);
      // 3. Recovery from the archive through pgdr wal fetch (which decrypts with the config's identities).
      const port = await freePort();
      const { restoreCommand } = archiveCommands(src.tc.config, src.tc.name);
      writeFileSync(
        join(dataDir, 'postgresql.auto.conf'),
        `${readFileSync(join(dataDir, 'postgresql.auto.conf'), 'utf8')}\nport = ${port}\narchive_mode = off\nrestore_command = '${restoreCommand.replace(/'/g, "''")}'\n`,
      );
      writeFileSync(join(dataDir, 'recovery.signal'), '');
      await execa('chown', ['-R', `${src.pgs.layout.pgUser}:`, dataDir]);
      await execa('chmod', ['700', dataDir]);
      await runTool({
        tool: 'pg_ctl',
        binDir: src.pgs.layout.pgBin,
        args: ['-D', dataDir, '-l', join(dataDir, 'startup.log'), '-w', '-t', '120', 'start'],
        osUser: src.pgs.layout.pgUser,
      });
      // Every row committed after the backup came from the archive.
      await expect
        .poll(async () => (await src.pgs.sqlAt(port, 'select pg_is_in_recovery()')).trim(), { timeout: 60_000, interval: 500 })
        .toBe('f');
      expect(await src.rows(port)).toBe(`${src.ticks.length}|1|${src.ticks.length}`);
      expect((await src.pgs.sqlAt(port, 'select count(*) from secrets where note = ' + `'${marker}'`)).trim()).toBe('2');
    } finally {
      await discardRestore(src.pgs, dataDir);
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('restores to a time in the middle with exactly the rows committed before it', async () => {
    const k = Math.floor(src.ticks.length / 2);
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { time: timeAfter(src.ticks, k) } }, src.made);
    expect(await src.rows(report.destination.port)).toBe(`${k}|1|${k}`);
    expect(report.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true });
  });

  it('passes the WAL archive check on the encrypted archive: round trip, continuity and the last commit read by pg_waldump', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/wal-archive/check`, {});
    expect(res.status).toBe(202);
    const r = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as WalCheckResult;
    expect(r.problems).toEqual([]);
    expect(r.healthy).toBe(true);
    expect(r.roundTrip).toMatchObject({ ok: true });
    expect(r.continuity).toMatchObject({ fromBackup: src.backup.id, missingCount: 0 });
    // The window ends at a commit pg_waldump found in a decrypted segment.
    expect(Date.parse(r.window.at(-1)!.latest!.time!)).toBeGreaterThanOrEqual(Date.parse(src.ticks.at(-1)!.before));
  });

  it('passes a drill on the encrypted cluster, with the restored rows checked', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/drills`, {});
    expect(res.status).toBe(202);
    const report = (await src.c.temporal.workflow.getHandle(res.body.workflowId).result()) as DrillReport;
    expect(report.ok, JSON.stringify(report.failures)).toBe(true);
    const checks = report.restores[0]!.checks.map((c) => `${c.kind}:${c.name}:${c.ok}`);
    expect(checks).toEqual(
      expect.arrayContaining([
        'verification:pg_verifybackup:true',
        'assertion:marker restored:true',
        'rowcount:postgres.public.ticks:true',
      ]),
    );
    expect(report.restores[0]!.checks.find((c) => c.name === 'marker restored')!.actual).toBe('2');
  });

  it('still reads objects encrypted to the retired key, which only the retired identity opens', async () => {
    // An object from before the rotation: encrypted to the retired key alone, stored beside the others.
    const { storage } = src.tc.config;
    const key = baseFolder(storage, src.tc.name, src.backup.id) + 'base.tar.zst';
    const raw = await rawObject(src, key);
    const plain = (
      await execa('age', ['--decrypt', '-i', current.identityFile], { input: raw.body, encoding: 'buffer', stripFinalNewline: false })
    ).stdout;
    const old = (
      await execa('age', ['--encrypt', '-r', retired.recipient], {
        input: Buffer.from(plain),
        encoding: 'buffer',
        stripFinalNewline: false,
      })
    ).stdout;
    await expect(
      execa('age', ['--decrypt', '-i', current.identityFile], { input: Buffer.from(old), encoding: 'buffer', stripFinalNewline: false }),
    ).rejects.toThrow(/no identity matched/);
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await src.c.s3.send(new PutObjectCommand({ Bucket: storage.bucket, Key: key, Body: Buffer.from(old), Metadata: raw.metadata }));
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { immediate: true } }, src.made);
    expect(report.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true });
    const head = await src.c.s3.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: key }));
    expect(head.Metadata?.encryption).toBe('age');
  });
});

describe('encryption at rest without a readable identity', () => {
  let src: PitrSource;
  let keys: string;

  beforeAll(async () => {
    keys = keyDir();
    const k = await ageKey(keys, 'only.key', 'postgres');
    src = await pitrSource('encnokey', {
      tickSeconds: 2,
      adjust: (cl) => {
        // The identity lives on restore hosts only: not on this one.
        cl.encryption = { recipients: [k.recipient], identities: [{ file: join(keys, 'absent.key') }] };
      },
    });
  }, 300_000);
  afterAll(async () => {
    await src?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  it('takes and stores backups (unverified: the backup host cannot read them)', async () => {
    expect(src.backup).toMatchObject({ status: 'good', verification: null, encryption: { format: 'age' } });
    const b = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/backups`, { type: 'full' });
    const second = (await src.c.temporal.workflow.getHandle(b.body.workflowId).result()).manifest;
    expect(second).toMatchObject({ status: 'good', verification: null });
  });

  it('fails a restore with ENCRYPTION_KEY_UNAVAILABLE naming the cluster and the identity it could not read', async () => {
    const res = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/restores`, { target: { immediate: true } });
    let message: string;
    if (res.status === 202) {
      src.made.push(res.body.destination.dataDir);
      const root = await rootFailure(src.c.temporal, res.body.workflowId);
      message = root.message;
      expect(root.type).toBe('EncryptionKeyError');
    } else {
      // Met in the pre-flight (it reads the newest archived WAL to find the last commit): the
      // answer is the error itself, with its status from the error table.
      expect(res.status, JSON.stringify(res.body)).toBe(500);
      expect(res.body.error.code).toBe('ENCRYPTION_KEY_UNAVAILABLE');
      message = res.body.error.message;
    }
    expect(message).toContain(`cannot decrypt s3://${src.tc.config.storage.bucket}/`);
    expect(message).toContain(`of cluster "${src.tc.name}": no age identity is readable on this worker`);
    expect(message).toContain(join(keys, 'absent.key'));
    // No restored directory is left behind.
    expect(existsSync(src.restoreDir) ? readdirSync(src.restoreDir) : []).toEqual([]);
  });
});

describe('encryption at rest with the pgbackrest method (aes-256-cbc)', () => {
  let src: PitrSource;
  let keys: string;
  const passphrase = randomBytes(24).toString('hex');

  beforeAll(async () => {
    keys = keyDir();
    const file = join(keys, 'repo-pass');
    writeFileSync(file, `${passphrase}\n`, { mode: 0o600 });
    const ids = asUser('postgres');
    if (ids) chownSync(file, ids.uid, ids.gid);
    src = await pitrSource('encpbr', {
      method: 'pgbackrest',
      tickSeconds: 6,
      adjust: (cl) => {
        cl.encryption = { passphrase: { file } };
      },
    });
  }, 300_000);
  afterAll(async () => {
    await src?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  it('encrypts the repo, restores to a time with exact rows, and keeps the passphrase out of the conf and every argv', async () => {
    expect(src.backup).toMatchObject({ method: 'pgbackrest', status: 'good', verification: { ok: true } });
    const { storage } = src.tc.config;
    const wal = await listArchivedWal({ config: src.tc.config, s3: src.c.s3 }, src.tc.name);
    const seg = wal.find((w) => /^[0-9A-F]{24}$/.test(w.name))!;
    const raw = await rawObject(src, seg.key);
    // pgBackRest's cipher format (OpenSSL's salted header), not zstd.
    expect(raw.body.subarray(0, 8).toString('latin1')).toBe('Salted__');
    expect(raw.body.indexOf(ZSTD_MAGIC)).toBe(-1);
    expect(storage.bucket).toBeTruthy();

    // The generated conf (named by a hash of its content): the cipher type, never the passphrase.
    const confDir = join(src.tc.config.clusters[src.tc.name]!.backup.scratchDir, 'pgbackrest');
    const confs = readdirSync(confDir).filter((f) => f.startsWith(`${src.tc.name}-primary-`) && f.endsWith('.conf'));
    expect(confs).toHaveLength(1);
    const conf = readFileSync(join(confDir, confs[0]!), 'utf8');
    expect(conf).toContain('repo1-cipher-type=aes-256-cbc');
    expect(conf).not.toContain(passphrase);

    // Every process's argv during a backup: pgbackrest runs, and never with the passphrase.
    const seen: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
          try {
            const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
            if (argv.includes('pgbackrest')) seen.push(argv);
            expect(argv).not.toContain(passphrase);
          } catch (err) {
            if ((err as { code?: string }).code !== 'ENOENT' && (err as { code?: string }).code !== 'ESRCH') throw err;
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const b = await src.c.call('POST', `/api/v1/clusters/${src.tc.name}/backups`, { type: 'full' });
      const second = (await src.c.temporal.workflow.getHandle(b.body.workflowId).result()).manifest;
      expect(second).toMatchObject({ status: 'good' });
    } finally {
      watching = false;
      await watch;
    }
    expect(seen.some((a) => / backup/.test(a))).toBe(true);

    const k = Math.floor(src.ticks.length / 2);
    const { report } = await restoreAndWait(
      src.c,
      src.tc.name,
      { target: { time: timeAfter(src.ticks, k) }, backupId: src.backup.id },
      src.made,
    );
    expect(await src.rows(report.destination.port)).toBe(`${k}|1|${k}`);
  }, 400_000);
});

describe('encryption at rest with a user tablespace (one object per archive, backup_manifest stored apart)', () => {
  let src: PitrSource;
  let keys: string;
  let k: { recipient: string; identityFile: string };
  const marker = `pgdr-ts-marker-${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    keys = keyDir();
    k = await ageKey(keys, 'ts.key', 'postgres');
    src = await pitrSource('encts', {
      tickSeconds: 1,
      beforeBackup: async (db) => {
        const dataDir = (await db.query<{ d: string }>('select current_setting($1) as d', ['data_directory'])).rows[0]!.d;
        const dir = join(dirname(dataDir), 'live_ts_enc');
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const st = statSync(dataDir);
        chownSync(dir, st.uid, st.gid);
        await db.query(`create tablespace ts_enc location '${dir}'`);
        await db.query('create table in_ts (id int, note text) tablespace ts_enc');
        await db.query('insert into in_ts select g, $1 from generate_series(1, 10) g', [marker]);
      },
      adjust: (cl) => {
        cl.encryption = { recipients: [k.recipient], identities: [{ file: k.identityFile }] };
      },
    });
  }, 300_000);
  afterAll(async () => {
    await src?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  it('encrypts every archive and backup_manifest, verifies them, and restores the tablespace rows', async () => {
    const { storage } = src.tc.config;
    const names = src.backup.objects.map((o) => o.name);
    expect(names).toEqual(['base.tar.zst', expect.stringMatching(/^\d+\.tar\.zst$/), 'backup_manifest']);
    expect(src.backup.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true });
    for (const name of names) {
      const obj = await rawObject(src, baseFolder(storage, src.tc.name, src.backup.id) + name);
      expect(obj.metadata.encryption, name).toBe('age');
      expect(obj.body.indexOf(ZSTD_MAGIC), name).toBe(-1);
      expect(obj.body.indexOf('ustar'), name).toBe(-1);
      expect(obj.body.indexOf(marker), name).toBe(-1);
      // pg_basebackup's manifest lists every file by name: ciphertext hides that too.
      expect(obj.body.indexOf('PostgreSQL-Backup-Manifest-Version'), name).toBe(-1);
      const plain = Buffer.from(
        (await execa('age', ['--decrypt', '-i', k.identityFile], { input: obj.body, encoding: 'buffer', stripFinalNewline: false })).stdout,
      );
      expect(createHash('sha256').update(plain).digest('hex'), name).toBe(src.backup.objects.find((o) => o.name === name)!.sha256);
    }
    const { report } = await restoreAndWait(src.c, src.tc.name, { target: { immediate: true } }, src.made);
    expect(report.verification).toMatchObject({ tool: 'pg_verifybackup', ok: true });
    expect((await src.pgs.sqlAt(report.destination.port, 'select count(*), min(note) from in_ts')).trim()).toBe(`10|${marker}`);
  });
});
