/**
 * Gives a buffer's memory back at once instead of at a garbage collection, by detaching its
 * ArrayBuffer (ArrayBuffer.prototype.transfer(0)). The agent's large buffers (a backup's part
 * buffers, a WAL segment read on a pusher thread) are few JavaScript objects over many megabytes
 * of native memory: promoted to the old generation, they would wait for a major collection, and
 * three backups in a row held up to three sets of parts.
 *
 * Only for a buffer no I/O may still read: after the request that sent it has been answered, or
 * one only synchronous code touched. Views of it read as empty afterwards. A buffer that shares its
 * ArrayBuffer (Node's pool, a slice) is left alone.
 */
export function releaseNow(b: Buffer): void {
  const ab = b.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (b.byteOffset === 0 && ab.byteLength === b.length && b.length > 0 && typeof ab.transfer === 'function') ab.transfer(0);
}
