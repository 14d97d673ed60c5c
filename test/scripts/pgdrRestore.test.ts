/**
 * bin/pgdr-restore, restore_command's thin client for restored copies, against a spool this test
 * lays out the way the prefetcher does (domain/walAgent.ts). The prefetcher itself, with a real
 * copy replaying from storage, is in test/workflows/pitrRestore.test.ts and restoreFaults.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefetchSpool } from '../../domain/walAgent.js';
import { repoRoot } from '../../scripts/stack/layout.js';
import { fallbackLog as readFallbackLog, recordingFallback, wake } from '../helpers/thinClients.js';

const CLIENT = join(repoRoot, 'bin', 'pgdr-restore');
const SEG = '000000010000000000000007';

describe('pgdr-restore (the thin restore client)', () => {
  let root: string;
  let data: string;
  let spool: string;
  let fallbackLog: string;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'pgdr-restore-'));
    data = join(root, 'copy');
    mkdirSync(join(data, 'pg_wal'), { recursive: true });
    spool = prefetchSpool(data);
    mkdirSync(spool);
    await execa('mkfifo', [join(spool, 'wake')]);
    writeFileSync(join(spool, 'heartbeat'), '');
    fallbackLog = join(root, 'fallback.log');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** restore_command as Postgres runs it: in the data directory, %f and %p. */
  function restore(name = SEG, wait = 30) {
    const fallback = recordingFallback(fallbackLog);
    return execa(CLIENT, ['--spool', spool, '--wait', String(wait), '--', ...fallback, name, 'pg_wal/RECOVERYXLOG'], {
      cwd: data,
      reject: false,
    });
  }
  const fellBack = () => readFallbackLog(fallbackLog);

  it('hands a prefetched segment to Postgres by rename, and says which one it wanted', async () => {
    writeFileSync(join(spool, SEG), 'segment bytes');
    const res = await restore();
    expect(res.exitCode, res.stderr).toBe(0);
    expect(readFileSync(join(data, 'pg_wal', 'RECOVERYXLOG'), 'utf8')).toBe('segment bytes');
    expect(existsSync(join(spool, SEG))).toBe(false);
    expect(readFileSync(join(spool, 'asked'), 'utf8')).toBe(`${SEG}\n`);
    expect(fellBack()).toBe('');
  });

  it('waits for a segment still on its way, woken when it lands', async () => {
    const run = restore();
    for (let i = 0; i < 100 && !existsSync(join(spool, 'asked')); i++) await new Promise((r) => setTimeout(r, 50));
    writeFileSync(join(spool, SEG), 'late bytes');
    wake(join(spool, 'wake'), SEG);
    const res = await run;
    expect(res.exitCode, res.stderr).toBe(0);
    expect(readFileSync(join(data, 'pg_wal', 'RECOVERYXLOG'), 'utf8')).toBe('late bytes');
    expect(fellBack()).toBe('');
  });

  it('leaves a segment the prefetcher found corrupt to the direct fetch, which reads it again and judges', async () => {
    writeFileSync(join(spool, `${SEG}.bad`), `wal object "pgdr/c/wal/${SEG}.zst" of cluster "c" is corrupt: sha256 1 does not match\n`);
    const res = await restore();
    expect(res.exitCode).toBe(0);
    expect(existsSync(join(data, 'pg_wal', 'RECOVERYXLOG'))).toBe(false);
    expect(fellBack()).toBe(`fallback ${SEG} pg_wal/RECOVERYXLOG\n`);
  });

  it('leaves the last word to the direct fetch: not in the archive, no prefetcher, an old heartbeat (history files too)', async () => {
    writeFileSync(join(spool, `${SEG}.none`), '');
    expect((await restore()).exitCode).toBe(0);
    rmSync(join(spool, `${SEG}.none`));
    const old = new Date(Date.now() - 30_000);
    utimesSync(join(spool, 'heartbeat'), old, old);
    expect((await restore()).exitCode).toBe(0);
    expect((await restore('00000002.history')).exitCode).toBe(0);
    rmSync(spool, { recursive: true });
    expect((await restore()).exitCode).toBe(0);
    expect(fellBack()).toBe([SEG, SEG, '00000002.history', SEG].map((n) => `fallback ${n} pg_wal/RECOVERYXLOG\n`).join(''));
  });

  it('asks for a history file by a request of its own, and takes only the answer to that request', async () => {
    const HIST = '00000002.history';
    const tokens: string[] = [];
    const answer = async (suffix: string, body = '') => {
      // The prefetcher beats every second (a loaded machine can spend seconds on four clients).
      writeFileSync(join(spool, 'heartbeat'), '');
      const run = restore(HIST);
      let asked = '';
      for (let i = 0; i < 200 && !asked; i++) {
        await new Promise((r) => setTimeout(r, 50));
        asked = existsSync(join(spool, 'asked-history')) ? readFileSync(join(spool, 'asked-history'), 'utf8') : '';
      }
      const m = /^(\S+) (\S+)\n$/.exec(asked);
      expect(m?.[1], asked).toBe(HIST);
      tokens.push(m![2]!);
      // Written whole under another name and renamed, as the prefetcher does.
      writeFileSync(join(spool, '.answer.tmp'), body);
      renameSync(join(spool, '.answer.tmp'), join(spool, `${HIST}.${m![2]}${suffix}`));
      wake(join(spool, 'wake'), `${HIST}.${m![2]}`);
      rmSync(join(spool, 'asked-history'));
      return run;
    };
    const present = await answer('', 'history text');
    expect(present.exitCode, present.stderr).toBe(0);
    expect(readFileSync(join(data, 'pg_wal', 'RECOVERYXLOG'), 'utf8')).toBe('history text');
    rmSync(join(data, 'pg_wal', 'RECOVERYXLOG'));
    expect((await answer('.absent')).exitCode).toBe(1);
    expect(fellBack()).toBe('');
    // The prefetcher could not tell (storage trouble) or found it corrupt: the direct fetch decides.
    expect((await answer('.none')).exitCode).toBe(0);
    expect((await answer('.bad', 'corrupt\n')).exitCode).toBe(0);
    expect(fellBack()).toBe(`fallback ${HIST} pg_wal/RECOVERYXLOG\n`.repeat(2));
    // Each request has a token of its own (the pid and the time): no answer can be taken for another's.
    expect(new Set(tokens).size).toBe(4);
  });

  it('fetches directly when the prefetcher goes quiet while it waits', async () => {
    const run = restore();
    await new Promise((r) => setTimeout(r, 300));
    const old = new Date(Date.now() - 30_000);
    utimesSync(join(spool, 'heartbeat'), old, old);
    const res = await run;
    expect(res.exitCode, res.stderr).toBe(0);
    expect(fellBack()).toBe(`fallback ${SEG} pg_wal/RECOVERYXLOG\n`);
  });

  it('refuses bad usage with exit 2', async () => {
    const bad = await execa(CLIENT, ['--spool', spool, '--wait', 'x', '--', 'true', 'a', 'b'], { reject: false });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('--wait "x"');
  });
});
