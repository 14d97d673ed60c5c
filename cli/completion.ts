/**
 * `pgdr completion bash|zsh`: a completion script generated from the commander program tree
 * (commands, subcommands, options, option and argument choices), so it never drifts from the CLI.
 * zsh runs the same function through its bashcompinit layer.
 */
import { Argument, type Command, type Option } from 'commander';

export const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

/** What completion needs to know about one command, keyed by its path below the program ('' for the program). */
export interface CompletionNode {
  path: string;
  subcommands: string[];
  options: string[];
  /** Options that take a value: the word after them is that value. */
  valued: string[];
  /** Allowed values of an option, with all its flags. */
  optionChoices: { flags: string[]; choices: string[] }[];
  /** Allowed values of a positional argument, by its index. */
  argumentChoices: Record<number, string[]>;
}

const flagsOf = (o: Option): string[] => [o.short, o.long].filter((f): f is string => !!f);

/**
 * Every command of the tree with what completes after it. The program's own options (--api-url)
 * count for every command but those in `ownOptionsOnly` (pgdr wal push|fetch, which commander never parses).
 */
export function completionTree(program: Command, ownOptionsOnly: ReadonlySet<string> = new Set()): CompletionNode[] {
  const help = program.createHelp();
  const globals = program.options.filter((o) => !o.hidden && o.long !== '--version');
  const nodes: CompletionNode[] = [];
  const visit = (cmd: Command, path: string): void => {
    // wal push|fetch turn commander's help off, and visibleOptions then hides their declared options too.
    const own = ownOptionsOnly.has(path) ? cmd.options.filter((o) => !o.hidden) : help.visibleOptions(cmd);
    const options = path === '' || ownOptionsOnly.has(path) ? own : [...own, ...globals.filter((g) => !own.some((o) => o.long === g.long))];
    const node: CompletionNode = {
      path,
      subcommands: help.visibleCommands(cmd).flatMap((c) => [c.name(), ...c.aliases()]),
      options: options.flatMap(flagsOf),
      valued: options.filter((o) => o.required || o.optional).flatMap(flagsOf),
      optionChoices: options.filter((o) => o.argChoices).map((o) => ({ flags: flagsOf(o), choices: o.argChoices! })),
      argumentChoices: Object.fromEntries(cmd.registeredArguments.flatMap((a: Argument, i) => (a.argChoices ? [[i, a.argChoices]] : []))),
    };
    nodes.push(node);
    for (const sub of cmd.commands) visit(sub, path ? `${path} ${sub.name()}` : sub.name());
  };
  visit(program, '');
  // `pgdr help <command>` completes the command names too.
  const root = nodes[0]!;
  if (root.subcommands.includes('help') && !nodes.some((n) => n.path === 'help')) {
    const commands = root.subcommands.filter((c) => c !== 'help');
    nodes.push({ path: 'help', subcommands: commands, options: [], valued: [], optionChoices: [], argumentChoices: {} });
  }
  return nodes;
}

/** Words as one single-quoted shell string; the tree holds only plain names, and anything else is a bug to catch here. */
function q(words: string): string {
  if (!/^[\w.:@,/=+| -]*$/.test(words)) {
    throw new Error(`completion: unexpected character in ${JSON.stringify(words)}: expected letters, digits, spaces and .:@,/=+|-`);
  }
  return `'${words}'`;
}

function caseFunction(name: string, doc: string, entries: [keys: string[], words: string[]][]): string {
  const arms = entries
    .filter(([, words]) => words.length > 0)
    .map(([keys, words]) => `    ${keys.map(q).join('|')}) echo ${q(words.join(' '))} ;;`);
  return [`# ${doc}`, `${name}() {`, '  case "$1" in', ...arms, '  esac', '}'].join('\n');
}

/** The bash script: data functions generated from the tree, then one function that walks COMP_WORDS. */
export function bashCompletion(program: Command, ownOptionsOnly?: ReadonlySet<string>): string {
  const name = program.name();
  const fn = `_${name.replace(/\W/g, '_')}`;
  const nodes = completionTree(program, ownOptionsOnly);
  return `# ${shellHeader(name, 'bash')}
${caseFunction(
  `${fn}_subcommands`,
  'subcommands of a command path',
  nodes.map((n) => [[n.path], n.subcommands]),
)}
${caseFunction(
  `${fn}_options`,
  'options of a command path',
  nodes.map((n) => [[n.path], n.options]),
)}
${caseFunction(
  `${fn}_valued`,
  'options of a command path that take a value',
  nodes.map((n) => [[n.path], n.valued]),
)}
${caseFunction(
  `${fn}_option_choices`,
  'allowed values of "<path>|<option>"',
  nodes.flatMap((n) => n.optionChoices.map((o): [string[], string[]] => [o.flags.map((f) => `${n.path}|${f}`), o.choices])),
)}
${caseFunction(
  `${fn}_argument_choices`,
  'allowed values of "<path>|<argument index>"',
  nodes.flatMap((n) => Object.entries(n.argumentChoices).map(([i, c]): [string[], string[]] => [[`${n.path}|${i}`], c])),
)}
${fn}_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path='' word i skip=0 nargs=0
  # Walk the words before the cursor: descend into subcommands, skip options and their values, count arguments.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if ((skip)); then skip=0; continue; fi
    case "$word" in
      --*=*) continue ;;
      -*) case " $(${fn}_valued "$path") " in *" $word "*) skip=1 ;; esac; continue ;;
    esac
    if ((nargs == 0)) && [[ " $(${fn}_subcommands "$path") " == *" $word "* ]]; then
      path="\${path:+$path }$word"
    else
      nargs=$((nargs + 1))
    fi
  done
  COMPREPLY=()
  if ((skip)); then
    COMPREPLY=($(compgen -W "$(${fn}_option_choices "$path|\${COMP_WORDS[COMP_CWORD-1]}")" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_options "$path")" -- "$cur"))
  elif ((nargs == 0)) && [[ -n "$(${fn}_subcommands "$path")" ]]; then
    COMPREPLY=($(compgen -W "$(${fn}_subcommands "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(${fn}_argument_choices "$path|$nargs")" -- "$cur"))
  fi
  return 0
}
# With no match (a data directory, a file), complete file names.
complete -o default -F ${fn}_complete ${name}
`;
}

export function zshCompletion(program: Command, ownOptionsOnly?: ReadonlySet<string>): string {
  const bash = bashCompletion(program, ownOptionsOnly).split('\n').slice(2).join('\n');
  return `# ${shellHeader(program.name(), 'zsh')}
# Runs the bash completion through zsh's bashcompinit; load it after compinit.
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}

function shellHeader(name: string, shell: Shell): string {
  return `${shell} completion for ${name}, generated by \`${name} completion ${shell}\` from the CLI's command tree.
# Install: add  source <(${name} completion ${shell})  to ~/.${shell}rc${shell === 'bash' ? ' (or save in /etc/bash_completion.d)' : ''}`;
}

export function completionCommand(program: Command, ownOptionsOnly?: ReadonlySet<string>): void {
  program
    .command('completion')
    .description('print a shell completion script: source <(pgdr completion bash), or zsh')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: Shell) => {
      process.stdout.write(shell === 'bash' ? bashCompletion(program, ownOptionsOnly) : zshCompletion(program, ownOptionsOnly));
    });
}
