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

// Slow hosts: every case spawns bin/pgdr or bash.
describe('pgdr completion', { timeout: 600_000 }, () => {
  let script: string;
  let file: string;

  beforeAll(async () => {
    const res = await runPgdr(['completion', 'bash'], {});
    expect(res.exitCode, res.stderr).toBe(0);
    script = res.stdout;
    file = join(mkdtempSync(join(tmpdir(), 'pgdr-completion-')), 'pgdr.bash');
    writeFileSync(file, script);
  });

  /** What bash offers for each command line (its last word is the one being completed), all in one bash. */
  const complete = async (...lines: string[][]): Promise<string[][]> => {
    // One line per case, words split by \x1f and closed by an END word, so an empty last word survives.
    const run = `source "$1"
      while IFS=$'\\x1f' read -r -a w; do
        COMP_WORDS=("\${w[@]:0:\${#w[@]}-1}"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=()
        _pgdr_complete; echo "\${COMPREPLY[*]}"
      done`;
    const input = lines.map((words) => [...words, 'END'].join('\x1f')).join('\n') + '\n';
    const res = await execa('bash', ['-c', run, 'bash', file], { input });
    return res.stdout.split('\n').map((l) => l.split(' ').filter(Boolean));
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
    const cases: [words: string[], offered: string[]][] = [
      [['pgdr', 'st'], ['status']],
      [
        ['pgdr', 're'],
        ['recovery-window', 'restore', 'restores', 'rebuild', 'replication'],
      ],
      [
        ['pgdr', 'schedule', ''],
        ['pause', 'unpause', 'trigger', 'help'],
      ],
      [['pgdr', 'restore', 'dr'], ['drop']],
      // After the cluster argument, no subcommand: `drop` is not offered.
      [['pgdr', 'restore', 'demo', 'dr'], []],
      [
        ['pgdr', 'switchover', 'demo', '--'],
        ['--candidate', '--max-lag-bytes', '--no-backup', '--wait', '--output', '--help', '--api-url'],
      ],
      [
        ['pgdr', 'status', 'demo', '-o', ''],
        ['table', 'json'],
      ],
      [['pgdr', '--api-url', 'http://x', 'restore', '--data-dir', '/d', '--output', 'j'], ['json']],
      [
        ['pgdr', 'completion', ''],
        ['bash', 'zsh'],
      ],
      [
        ['pgdr', 'wal', 'push', '--via', ''],
        ['basebackup', 'pgbackrest'],
      ],
      // pgdr wal push is what Postgres runs: only its own options, no -o or --api-url.
      [
        ['pgdr', 'wal', 'push', '--'],
        ['--config', '--cluster', '--via'],
      ],
    ];
    expect(await complete(...cases.map(([words]) => words))).toEqual(cases.map(([, offered]) => offered));
  });

  it("the zsh script is the same completion run through zsh's bashcompinit", async () => {
    const res = await runPgdr(['completion', 'zsh'], {});
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toContain('autoload -U +X bashcompinit && bashcompinit');
    expect(res.stdout).toContain(script.split('\n').slice(2).join('\n'));
  });
});
