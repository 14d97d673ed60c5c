/**
 * What the agent's archiver and the restore prefetcher share with their thin clients (bash): a
 * heartbeat file, a wake-up FIFO, and a scan loop that runs one pass at a time.
 */
import { closeSync, constants, existsSync, openSync, writeSync } from 'node:fs';
import { chown, open, utimes } from 'node:fs/promises';
import { runTool } from './gateway.js';

/** Touches `path` (creating it, mode 0644): its mtime says the process is alive. */
export async function touch(path: string): Promise<void> {
  const now = new Date();
  try {
    await utimes(path, now, now);
  } catch {
    const fh = await open(path, 'w', 0o644);
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
export async function openWake(path: string, user: { uid: number; gid: number } | undefined): Promise<Wake> {
  if (!existsSync(path)) {
    await runTool({ tool: 'mkfifo', args: ['-m', '0600', path] });
    if (user) await chown(path, user.uid, user.gid);
  }
  let fd: number | undefined = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
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
