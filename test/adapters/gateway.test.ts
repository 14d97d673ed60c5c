import { describe, expect, it } from 'vitest';
import { runTool, asUser } from '../../adapters/gateway.js';
import { ToolFailedError, ToolNotFoundError } from '../../domain/errors.js';

describe('tool gateway', () => {
  it('throws ToolFailedError carrying the exit code and the tail of stderr', async () => {
    const err = await runTool({ tool: 'bash', args: ['-c', 'echo one >&2; echo "fatal: it broke" >&2; exit 3'] }).catch((e) => e);
    expect(err).toBeInstanceOf(ToolFailedError);
    expect(err.context).toMatchObject({ tool: 'bash', exitCode: 3 });
    expect(err.message).toBe('bash failed with exit code 3: one\nfatal: it broke');
    expect(err.nonRetryable).toBe(false);
  });

  it('runs tools with LANG=C and LC_ALL=C so their messages can be parsed', async () => {
    const res = await runTool({ tool: 'bash', args: ['-c', 'echo "$LANG/$LC_ALL"'], env: { LANG: 'de_DE.UTF-8' } });
    // The caller's env may add variables but the locale stays C unless explicitly overridden.
    expect(res.stdout).toBe('de_DE.UTF-8/C');
    expect((await runTool({ tool: 'bash', args: ['-c', 'echo "$LANG"'] })).stdout).toBe('C');
  });

  it('passes secrets through the environment, so they never appear in argv', async () => {
    const res = await runTool({
      tool: 'bash',
      args: ['-c', 'echo "${#PGPASSWORD}"; cat /proc/$$/cmdline | tr "\\0" " "'],
      env: { PGPASSWORD: 's3cret-value' },
    });
    const [len, cmdline] = res.stdout.split('\n');
    expect(len).toBe('12');
    expect(cmdline).not.toContain('s3cret-value');
  });

  it.runIf(process.getuid?.() === 0)('kills a tool running as another user when the signal aborts', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const marker = `pgdr-cancel-${process.pid}`;
    const err = await runTool({ tool: 'bash', args: ['-c', `exec -a ${marker} sleep 30`], osUser: 'postgres', signal: ac.signal }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(ToolFailedError);
    const { stdout } = await runTool({ tool: 'ps', args: ['-eo', 'args'] });
    expect(stdout).not.toContain(marker);
  });

  it('kills the tool when the signal aborts, and says it was cancelled', async () => {
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 200);
    const err = await runTool({ tool: 'sleep', args: ['30'], signal: ac.signal }).catch((e) => e);
    expect(err).toBeInstanceOf(ToolFailedError);
    expect(err.message).toMatch(/^sleep \(cancelled\) failed/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses a tool missing from the configured binDir, naming the path', async () => {
    const err = await runTool({ tool: 'pg_nothing', binDir: '/usr/lib/postgresql/15/bin', args: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(ToolNotFoundError);
    expect(err.message).toContain('tool "pg_nothing" not found at /usr/lib/postgresql/15/bin/pg_nothing');
    expect(err.nonRetryable).toBe(true);
  });

  it.runIf(process.getuid?.() === 0)("runs tools as the node's OS user when the worker is root", async () => {
    expect(asUser('postgres')).toMatchObject({ uid: expect.any(Number), gid: expect.any(Number) });
    expect(asUser('root')).toBeUndefined();
    const res = await runTool({ tool: 'bash', args: ['-c', 'id -un; echo $HOME; echo $PPID'], osUser: 'postgres' });
    const [user, home, ppid] = res.stdout.split('\n');
    expect(user).toBe('postgres');
    expect(home).toBe(asUser('postgres')!.home);
    // Spawned directly: its parent is this process, not a runuser in between.
    expect(Number(ppid)).toBe(process.pid);
  });
});
