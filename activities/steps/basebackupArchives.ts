/**
 * pg_basebackup of a cluster with user tablespaces: one archive per tablespace, each streamed
 * to its own object.
 *
 * pg_basebackup writes only one tablespace to stdout, and in tar mode it refuses a -D directory
 * that is not empty, so named pipes cannot simply be waiting there. It checks the directory
 * before it asks the server for the backup and opens the first archive only after the
 * checkpoint. When it says "initiating base backup", the checked, still empty directory is
 * replaced (rename(2), atomic) by a prepared one holding a pipe per expected archive; a reader
 * (`cat`, so no Node thread blocks in open(2)) per pipe feeds that archive's upload. Memory
 * stays bounded and pg_basebackup waits for the slowest upload (back-pressure through the pipe).
 *
 * Should pg_basebackup have opened an archive before the swap (the rename then fails: the
 * directory is no longer empty), or write an archive no pipe was made for (a tablespace created
 * meanwhile), that archive lands as a file in scratch space and is uploaded from there after
 * pg_basebackup exits: correct, but spooled (README: limits).
 */
import {
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  chownSync,
  lstatSync,
  openSync,
  closeSync,
  constants,
  createReadStream,
} from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { checkResult, runTool, spawnTool, asUser } from '../../adapters/gateway.js';
import type { BackupTablespace } from '../../domain/tablespaces.js';
import { BACKUP_MANIFEST_OBJECT, tablespaceObjectName } from '../../domain/tablespaces.js';
import type { StoredObject } from '../../domain/catalog.js';

export interface ArchivesInput {
  /** pg_basebackup's arguments without -D. */
  args: string[];
  binDir: string;
  osUser: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** Scratch directory for this backup (created and removed here). */
  scratch: string;
  /** base.tar[.zst|.lz4|.gz]: the tablespace archives carry the same suffix. */
  baseObjectName: string;
  /** The user tablespaces the server has now (oid, name, location). */
  tablespaces: Omit<BackupTablespace, 'object'>[];
  /** Looks a tablespace up by OID on the server (one created after `tablespaces` was read). */
  lookup: (oid: number) => Promise<Omit<BackupTablespace, 'object'> | null>;
  /** Uploads one stream to the backup's folder as `name`; sha256 and bytes of what was stored. */
  upload: (name: string, body: Readable) => Promise<StoredObject>;
  /** Removes an object this backup stored. */
  remove: (name: string) => Promise<void>;
  onStderrLine: (line: string) => void;
}

export interface ArchivesResult {
  base: StoredObject;
  tablespaces: BackupTablespace[];
  manifest: StoredObject;
  /** Archives that went through scratch space instead of a pipe. */
  spooled: string[];
  stderr: string;
}

function own(path: string, user: string): void {
  const ids = asUser(user);
  if (ids) chownSync(path, ids.uid, ids.gid);
}

const ARCHIVE = /^(base|\d+)\.tar(\.zst|\.lz4|\.gz)?$/;

export async function uploadArchives(i: ArchivesInput): Promise<ArchivesResult> {
  const out = join(i.scratch, 'out');
  const prep = join(i.scratch, 'pipes');
  rmSync(i.scratch, { recursive: true, force: true });
  for (const d of [i.scratch, out, prep]) {
    mkdirSync(d, { mode: 0o700 });
    own(d, i.osUser);
  }
  const names = [i.baseObjectName, ...i.tablespaces.map((t) => tablespaceObjectName(t.oid, i.baseObjectName))];
  // The pipes belong to the node's OS user, who runs pg_basebackup.
  await runTool({ tool: 'mkfifo', args: ['-m', '0600', ...names.map((n) => join(prep, n))], osUser: i.osUser, signal: i.signal });

  const stored = new Map<string, Promise<StoredObject>>();
  const readers: ReturnType<typeof spawnTool>[] = [];
  let swapped = false;
  const swap = (): void => {
    try {
      // Replaces the empty directory pg_basebackup checked; fails (ENOTEMPTY) once it wrote into it.
      renameSync(prep, out);
      swapped = true;
    } catch {
      return;
    }
    for (const n of names) {
      const cat = spawnTool({ tool: 'cat', args: [join(out, n)], osUser: i.osUser, signal: i.signal, streamStdout: true });
      readers.push(cat);
      // Piped now: a reader's output is lost if nothing consumes it before the upload is ready.
      const upload = i.upload(n, cat.stdout!.pipe(new PassThrough()));
      // Storing it failed: nothing reads that pipe any more, and pg_basebackup would block on it.
      // Stop pg_basebackup; the upload's failure is the one reported (handled here, at once).
      upload.catch((err: unknown) => {
        uploadFailed ??= { err };
        proc.kill();
      });
      stored.set(n, upload);
    }
  };
  let stderr = '';
  let pending = '';
  let uploadFailed: { err: unknown } | undefined;
  const proc = spawnTool({
    tool: 'pg_basebackup',
    binDir: i.binDir,
    args: [...i.args, '-D', out],
    osUser: i.osUser,
    env: i.env,
    signal: i.signal,
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stderr = (stderr + text).slice(-8192);
    pending += text;
    const lines = pending.split(/\r?\n|\r/);
    pending = lines.pop() ?? '';
    for (const l of lines) {
      if (!swapped && /initiating base backup/.test(l)) swap();
      i.onStderrLine(l);
    }
  });
  const done: StoredObject[] = [];
  try {
    const result = await proc;
    // An upload that failed while pg_basebackup ran is why it stopped.
    const failedFirst = uploadFailed;
    if (pending) i.onStderrLine(pending);
    // A pipe pg_basebackup never opened (a tablespace dropped meanwhile, or pg_basebackup failed
    // before it): one open for writing and close give its reader end-of-file.
    if (swapped)
      for (const n of names) {
        try {
          closeSync(openSync(join(out, n), constants.O_WRONLY | constants.O_NONBLOCK));
        } catch {
          // ENXIO: its reader has finished already.
        }
      }
    const settled = await Promise.allSettled([...stored.values()]);
    for (const s of settled) if (s.status === 'fulfilled') done.push(s.value);
    if (failedFirst) throw failedFirst.err;
    checkResult('pg_basebackup', result as never);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    await Promise.allSettled(readers);

    // Archives written as files (no pipe for them, or the swap came too late), and the manifest.
    const spooled: string[] = [];
    for (const n of readdirSync(out)) {
      if (!lstatSync(join(out, n)).isFile()) continue;
      if (ARCHIVE.test(n) || n === BACKUP_MANIFEST_OBJECT) {
        const o = await i.upload(n, createReadStream(join(out, n)));
        done.push(o);
        if (n !== BACKUP_MANIFEST_OBJECT) spooled.push(n);
      }
    }
    // An archive never written reads as zero bytes: a tar archive never is.
    for (const o of done.filter((x) => x.bytes === 0)) await i.remove(o.name);
    const kept = done.filter((x) => x.bytes > 0);
    const base = kept.find((o) => o.name === i.baseObjectName);
    const manifest = kept.find((o) => o.name === BACKUP_MANIFEST_OBJECT);
    if (!base || !manifest) throw new Error(`pg_basebackup wrote no ${base ? BACKUP_MANIFEST_OBJECT : i.baseObjectName}`);
    const tablespaces: BackupTablespace[] = [];
    for (const o of kept) {
      const oid = /^(\d+)\.tar/.exec(o.name)?.[1];
      if (!oid) continue;
      const t = i.tablespaces.find((x) => x.oid === Number(oid)) ?? (await i.lookup(Number(oid)));
      tablespaces.push({
        oid: Number(oid),
        name: t?.name ?? `(dropped since: oid ${oid})`,
        location: t?.location ?? '',
        object: { name: o.name, bytes: o.bytes, sha256: o.sha256 },
      });
    }
    tablespaces.sort((a, b) => a.oid - b.oid);
    return { base, tablespaces, manifest, spooled, stderr };
  } catch (err) {
    // Nothing partial lingers: every object this attempt may have stored goes.
    for (const n of new Set([...names, ...done.map((o) => o.name), BACKUP_MANIFEST_OBJECT])) await i.remove(n).catch(() => undefined);
    throw err;
  } finally {
    for (const r of readers) r.kill();
    rmSync(i.scratch, { recursive: true, force: true });
  }
}
