/**
 * One owner per port on a host: claims are created atomically, a live holder's claim is never
 * taken, a stale one is, and a port something listens on is skipped. Real files, real sockets.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimFreePort, claimPort, readClaim, releaseClaimsOf, releasePort } from '../../adapters/portClaims.js';
import { freePort } from '../../scripts/stack/procs.js';

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

describe('port claims', () => {
  let dir: string;
  let from: number;
  const running = new Set<string>();
  const closed = new Set<string>();
  const holderRuns = async (h: string) =>
    (running.has(h) ? 'running' : closed.has(h) ? 'closed' : 'absent') as 'running' | 'closed' | 'absent';
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgdr-claims-'));
    // A range of 20 ports around a port the OS just found free.
    from = await freePort();
    running.clear();
    closed.clear();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives twelve restores choosing at the same moment twelve different ports', async () => {
    const holders = Array.from({ length: 12 }, (_, i) => `pitrRestore/c/r${i}`);
    for (const h of holders) running.add(h);
    const got = await Promise.all(
      holders.map((h, i) => claimFreePort({ from, to: from + 19 }, { holder: h, dataDir: `/restores/r${i}` }, new Set(), holderRuns, dir)),
    );
    expect(got.every((p) => p !== null && p >= from && p <= from + 19)).toBe(true);
    expect(new Set(got).size).toBe(12);
    for (const [i, p] of got.entries()) expect(readClaim(p!, dir)).toMatchObject({ holder: holders[i], dataDir: `/restores/r${i}` });
  });

  it('never takes a port another running restore claimed, and gives the same holder its own claim again', async () => {
    running.add('a').add('b');
    expect(await claimPort(from, { holder: 'a', dataDir: '/r/a' }, holderRuns, dir)).toBe(true);
    expect(await claimPort(from, { holder: 'b', dataDir: '/r/b' }, holderRuns, dir)).toBe(false);
    expect(await claimPort(from, { holder: 'a', dataDir: '/r/a' }, holderRuns, dir)).toBe(true);
    const other = await claimFreePort({ from, to: from + 19 }, { holder: 'b', dataDir: '/r/b' }, new Set(), holderRuns, dir);
    expect(other).not.toBeNull();
    expect(other).not.toBe(from);
    expect(readClaim(from, dir)?.holder).toBe('a');
  });

  it('takes over the claim of a finished restore whose server does not run, once, when two ask at the same moment', async () => {
    running.add('b').add('c');
    closed.add('gone');
    expect(await claimPort(from, { holder: 'gone', dataDir: '/r/gone' }, holderRuns, dir)).toBe(true);
    const [b, c] = await Promise.all([
      claimPort(from, { holder: 'b', dataDir: '/r/b' }, holderRuns, dir),
      claimPort(from, { holder: 'c', dataDir: '/r/c' }, holderRuns, dir),
    ]);
    expect([b, c].filter(Boolean)).toEqual([true]);
    expect(readClaim(from, dir)?.holder).toBe(b ? 'b' : 'c');
  });

  it('keeps the claim of a restore Temporal does not know yet (the API claims before it starts it)', async () => {
    running.add('b');
    expect(await claimPort(from, { holder: 'about-to-start', dataDir: '/r/x' }, holderRuns, dir)).toBe(true);
    expect(await claimPort(from, { holder: 'b', dataDir: '/r/b' }, holderRuns, dir)).toBe(false);
    expect(readClaim(from, dir)?.holder).toBe('about-to-start');
  });

  it('skips a port something listens on, and the ports it is told to skip', async () => {
    running.add('a');
    const other = await listen(from);
    try {
      const got = await claimFreePort({ from, to: from + 19 }, { holder: 'a', dataDir: '/r/a' }, new Set([from + 1]), holderRuns, dir);
      expect(got).not.toBeNull();
      expect(got).not.toBe(from);
      expect(got).not.toBe(from + 1);
      expect(readClaim(from, dir)).toBeNull();
    } finally {
      other.close();
    }
  });

  it('gives a port back only to its holder, and every claim of a removed data directory', async () => {
    running.add('a');
    await claimPort(from, { holder: 'a', dataDir: '/r/a/' }, holderRuns, dir);
    await claimPort(from + 1, { holder: 'a', dataDir: '/r/a' }, holderRuns, dir);
    expect(releasePort(from, 'b', dir)).toBe(false);
    expect(readClaim(from, dir)).not.toBeNull();
    expect(releaseClaimsOf('/r/a', dir).sort()).toEqual([from, from + 1]);
    expect(readClaim(from, dir)).toBeNull();
  });
});
