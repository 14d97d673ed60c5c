/** What the tests of the bash thin clients (bin/pgdr-archive, bin/pgdr-restore) share. */
import { closeSync, constants, existsSync, openSync, readFileSync, writeSync } from 'node:fs';

/** A line into a wake FIFO as the agent writes it: read-write and non-blocking, never waiting for a reader. */
export function wake(fifo: string, name: string): void {
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  try {
    writeSync(fd, `${name}\n`);
  } finally {
    closeSync(fd);
  }
}

/** A stand-in for the direct push or fetch after "--": it only writes down its arguments to `log`. */
export function recordingFallback(log: string): string[] {
  return ['sh', '-c', 'echo "fallback $*" >>"$0"', log];
}

/** What the stand-in wrote down so far. */
export function fallbackLog(log: string): string {
  return existsSync(log) ? readFileSync(log, 'utf8') : '';
}
