/**
 * `pgdr completion bash|zsh`: the script is generated from the command tree, so every command is
 * in it; sourced in bash, it completes commands, subcommands, options and their allowed values.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { runPgdr } from './fakeApi.js';
import { buildProgram, commandsOf } from '../../cli/program.js';

describe('pgdr completion', () => {
  let script: string;
  let file: string;

  beforeAll(async () => {
    const res = await runPgdr(['completion', 'bash'], {});
    expect(res.exitCode, res.stderr).toBe(0);
    script = res.stdout;
    file = join(mkdtempSync(join(tmpdir(), 'pgdr-completion-')), 'pgdr.bash');
    writeFileSync(file, script);
  });

  /** What bash offers for the command line `words` (the last one is the word being completed). */
  const complete = async (...words: string[]): Promise<string[]> => {
    const run = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pgdr_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const res = await execa('bash', ['-c', run, 'bash', file, ...words]);
    return res.stdout.split('\n').filter(Boolean);
  };

  it('names every command and subcommand of the program, and registers itself for pgdr', () => {
    for (const { path } of commandsOf(buildProgram())) {
      const cut = path.lastIndexOf(' ');
      const [parent, name] = cut < 0 ? ['', path] : [path.slice(0, cut), path.slice(cut + 1)];
      expect(script, path).toMatch(new RegExp(`^ {4}'${parent}'\\) echo '([^']* )?${name}( [^']*)?' ;;$`, 'm'));
    }
    expect(script).toContain('complete -o default -F _pgdr_complete pgdr');
  });

  it('is valid bash and completes commands, subcommands, options and their allowed values', async () => {
    await execa('bash', ['-n', file]);
    expect(await complete('pgdr', 'st')).toEqual(['status']);
    expect(await complete('pgdr', 're')).toEqual(['recovery-window', 'restore', 'restores', 'rebuild', 'replication']);
    expect(await complete('pgdr', 'schedule', '')).toEqual(['pause', 'unpause', 'trigger', 'help']);
    expect(await complete('pgdr', 'restore', 'dr')).toEqual(['drop']);
    // After the cluster argument, no subcommand: `drop` is not offered.
    expect(await complete('pgdr', 'restore', 'demo', 'dr')).toEqual([]);
    const options = ['--candidate', '--wait', '--output', '--api-url', '--help'];
    expect(await complete('pgdr', 'switchover', 'demo', '--')).toEqual(expect.arrayContaining(options));
    expect(await complete('pgdr', 'status', 'demo', '-o', '')).toEqual(['table', 'json']);
    expect(await complete('pgdr', '--api-url', 'http://x', 'restore', '--data-dir', '/d', '--output', 'j')).toEqual(['json']);
    expect(await complete('pgdr', 'completion', '')).toEqual(['bash', 'zsh']);
    expect(await complete('pgdr', 'wal', 'push', '--via', '')).toEqual(['basebackup', 'pgbackrest']);
    // pgdr wal push is what Postgres runs: only its own options, no -o or --api-url.
    expect(await complete('pgdr', 'wal', 'push', '--')).toEqual(['--config', '--cluster', '--via']);
  });

  it('the zsh script is the same completion run through zsh\'s bashcompinit', async () => {
    const res = await runPgdr(['completion', 'zsh'], {});
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toContain('autoload -U +X bashcompinit && bashcompinit');
    expect(res.stdout).toContain(script.split('\n').slice(2).join('\n'));
  });
});
