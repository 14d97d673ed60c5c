/**
 * The agent-resident archiver's shared vocabulary: where it keeps its state for one node, how
 * a WAL file is fingerprinted, and the order it pushes in. bin/pgdr-archive (archive_command's
 * thin client, in bash) computes the same key and fingerprint; a test holds the two together.
 * Restores have the mirror image: a prefetcher and restore_command's thin client bin/pgdr-restore.
 *
 * State of one (cluster, data directory), under archive.agent.stateDir:
 *   <stateDir>/<cluster>/<key of the data directory>/
 *     heartbeat          touched every second while the agent serves the node
 *     wake               a FIFO: the agent writes "<name>\n" when a segment a client waits for is durable
 *     want/<name>        a client waits for this segment (the agent pushes it first)
 *     durable/<name>     "<fingerprint> <object key>": that exact file is in storage
 *     failed/<name>      the agent's last error for this segment, which the client prints when it gives up
 */
import { segmentName, segmentNumber } from './wal.js';

/** Seconds without a heartbeat after which the thin client stops waiting and pushes itself. */
export const HEARTBEAT_STALE_SECONDS = 5;

/** Milliseconds between heartbeats. */
export const HEARTBEAT_INTERVAL_MS = 1000;

/** The agent keeps pushing ahead this long after the last client request for a node. */
export const DEMAND_WINDOW_MS = 10 * 60 * 1000;

/**
 * The directory name of a data directory's state: its real path with "%" and "/" escaped, so
 * two data directories never share one and bash computes it without starting a process.
 */
export function archiverStateKey(realDataDir: string): string {
  return realDataDir.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** Longest state key a file system takes as one name (NAME_MAX 255, with room to spare). */
export const MAX_STATE_KEY = 240;

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/**
 * A file's identity as `stat -L -c '%d:%i:%s:%.9Y'` prints it: device, inode, size and
 * modification time to the nanosecond. A recycled or rewritten segment never keeps it.
 */
export function walFingerprint(st: FileIdentity): string {
  const sec = st.mtimeNs / 1_000_000_000n;
  const ns = (st.mtimeNs % 1_000_000_000n).toString().padStart(9, '0');
  return `${st.dev}:${st.ino}:${st.size}:${sec}.${ns}`;
}

/** Plain segments only: history, backup-history and .partial files are rare and go straight through. */
export function isAgentSegment(name: string): boolean {
  return /^[0-9A-F]{24}$/.test(name);
}

/**
 * What to push next: segments clients wait for first, then the oldest ready ones, skipping
 * those already durable, in flight or backing off; at most `slots` of them.
 */
export function nextToPush(
  ready: readonly string[],
  wanted: ReadonlySet<string>,
  busy: (name: string) => boolean,
  slots: number,
): string[] {
  if (slots <= 0) return [];
  const readySet = new Set(ready);
  const first = [...wanted].filter((n) => readySet.has(n)).sort();
  const rest = [...ready].filter((n) => !wanted.has(n)).sort();
  const out: string[] = [];
  for (const n of [...first, ...rest]) {
    if (out.length >= slots) break;
    if (isAgentSegment(n) && !busy(n)) out.push(n);
  }
  return out;
}

/** Seconds to wait before trying a failed segment again: 1 s doubling to 30 s. */
export function retryDelaySeconds(failures: number): number {
  return Math.min(30, 2 ** Math.max(0, failures - 1));
}

/**
 * The prefetch spool of a restored copy: beside its data directory (the same file system, so
 * handing a segment to Postgres is a rename), removed when the restore ends.
 *   heartbeat        touched every second while the prefetcher runs
 *   asked            the segment restore_command asked for last ("<name>\n")
 *   wake             a FIFO: "<name>\n" when a segment lands
 *   <name>           a verified segment, ready to be renamed to %p
 *   <name>.bad       the archive's copy is corrupt: the message names the object
 *   <name>.none      not in the archive when the prefetcher looked
 *   asked-history    a timeline history file restore_command asked for ("<name> <token>\n",
 *                    the token unique to the request: "<pid>-<microseconds since the epoch>")
 *   <name>.<token>   that history file, looked up after the request; or, beside it,
 *                    <name>.<token>.absent (not in the archive), .none (could not tell), .bad
 */
export function prefetchSpool(dataDir: string): string {
  return `${dataDir.replace(/\/+$/, '')}.pgdr-prefetch`;
}

/**
 * The segments to have in the spool after Postgres asked for `asked`: it and the next ones of
 * its timeline, `depth` in all. Names come from segment numbers, so the segment size matters.
 */
export function prefetchWindow(asked: string, depth: number, segmentBytes: number): string[] {
  const tli = parseInt(asked.slice(0, 8), 16);
  const first = segmentNumber(asked, segmentBytes);
  return Array.from({ length: depth }, (_, i) => segmentName(tli, first + i, segmentBytes));
}

/** The first segment replay needs, from a backup_label's text ("START WAL LOCATION: 0/2000028 (file <name>)"); '' without one. */
export function backupStartSegment(backupLabel: string): string {
  return /^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$/m.exec(backupLabel)?.[1] ?? '';
}
