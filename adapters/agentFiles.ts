/**
 * What the agent's archiver and the restore prefetcher share with their thin clients (bash): a
 * heartbeat file, a wake-up FIFO, and a scan loop that runs one pass at a time.
 */
import { closeSync, constants, fchownSync, fstatSync, openSync, writeSync } from 'node:fs';
import { lstat, lutimes, mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from './gateway.js';

/**
 * These directories belong to the nodes' OS user while the agent may run as root: nothing here
 * follows a symlink that user could plant (no write, chown or times through one), so a database
 * superuser cannot turn the agent into a root file writer.
 */
const NOFOLLOW = constants.O_NOFOLLOW;

type Owner = { uid: number; gid: number } | undefined;

/** A directory, made if missing (mode 0700, owned by `user`); refused if the name is anything else, a symlink included. */
export async function ownDir(path: string, user: Owner): Promise<void> {
  await mkdir(path, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const st = await lstat(path);
  if (!st.isDirectory()) throw new Error(`${path} is not a directory (a symlink or a file is never used)`);
  if (user && (st.uid !== user.uid || st.gid !== user.gid)) {
    const fh = await open(path, constants.O_RDONLY | constants.O_DIRECTORY | NOFOLLOW);
    try {
      await fh.chown(user.uid, user.gid);
    } finally {
      await fh.close();
    }
  }
}

/**
 * Writes `text` to `dir/name` whole (a new temporary file, never opened through a symlink, then a
 * rename), mode 0644 whatever the umask, owned by `user` when given.
 */
export async function writeWhole(dir: string, name: string, data: string | Uint8Array, user: Owner, mode = 0o644): Promise<void> {
  const tmp = join(dir, `.${name}.tmp`);
  await unlink(tmp).catch(() => undefined);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    if (user) await fh.chown(user.uid, user.gid);
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
}

/** Touches `path` (creating it, mode 0644): its mtime says the process is alive. Never through a symlink. */
export async function touch(path: string): Promise<void> {
  const now = new Date();
  try {
    await lutimes(path, now, now);
  } catch {
    const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | NOFOLLOW, 0o644);
    await fh.chmod(0o644);
    await fh.close();
  }
}

export interface Wake {
  /** Writes "<name>\n" for a client waiting in `read -t`; a full pipe only drops the wake-up. */
  send(name: string): void;
  close(): void;
}

/**
 * The wake-up FIFO at `path`, made (mode 0600, owned by `user` when given) if missing, and held
 * open read-write and non-blocking, so writing never waits for a reader.
 */
export async function openWake(path: string, user: Owner): Promise<Wake> {
  if (!(await lstat(path).catch(() => undefined))) await runTool({ tool: 'mkfifo', args: ['-m', '0600', path] });
  let fd: number | undefined = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | NOFOLLOW);
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    throw new Error(`${path} is not a FIFO`);
  }
  if (user) fchownSync(fd, user.uid, user.gid);
  return {
    send(name) {
      // Never after close(): the descriptor's number may belong to another file by then.
      if (fd === undefined) return;
      try {
        writeSync(fd, `${name}\n`);
      } catch {
        // A full pipe: the client re-checks every second anyway.
      }
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * Runs `pass` one at a time: a call during a pass runs one more pass right after it, never two
 * at once; nothing runs once `stopped()` says so.
 */
export function serialPasses(pass: () => Promise<void>, stopped: () => boolean, log: (line: string) => void) {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (stopped()) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = pass()
      .catch((err: unknown) => log(`scan failed: ${(err as Error).message}`))
      .finally(() => {
        running = undefined;
        if (again && !stopped()) {
          again = false;
          void run();
        }
      });
    return running;
  };
  return { run, current: () => running };
}
