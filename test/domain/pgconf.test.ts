import { describe, expect, it } from 'vitest';
import { confString, pgbackrestConfValueProblem, restorePointNameProblem, utf8Bytes } from '../../domain/pgconf.js';
import { UnsafeConfValueError } from '../../domain/errors.js';

/**
 * postgresql.conf's reading of a quoted value (guc-file.l's STRING token, then GUC_scanstr),
 * written from the documented rules, to check confString against: what the server would get.
 */
function serverReads(quoted: string): string {
  const m = /^'((?:[^'\\\n]|\\.|'')*)'$/s.exec(quoted);
  if (!m) throw new Error(`the server would not read ${JSON.stringify(quoted)} as one quoted value`);
  const esc: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
  return m[1]!.replace(/\\([0-7]{1,3}|.)|''/gs, (all, e: string | undefined) => {
    if (all === "''") return "'";
    if (/^[0-7]+$/.test(e!)) return String.fromCharCode(parseInt(e!, 8));
    return esc[e!] ?? e!;
  });
}

describe('confString', () => {
  it.each([
    ['a plain value', 'pgdr wal fetch %f %p', "'pgdr wal fetch %f %p'"],
    ['a single quote, doubled', "it's", "'it''s'"],
    ['a backslash, doubled so \\t stays two characters', 'qa\\tb', "'qa\\\\tb'"],
    ['a trailing backslash, which would otherwise escape the closing quote', 'qa-bs\\', "'qa-bs\\\\'"],
    ['leading and trailing spaces, kept', ' qa-lead ', "' qa-lead '"],
    ['an empty value', '', "''"],
    ['non-ASCII text, as is', 'sauvegarde-été', "'sauvegarde-été'"],
  ])('quotes %s', (_case, value, quoted) => {
    expect(confString(value)).toBe(quoted);
    expect(serverReads(quoted)).toBe(value);
  });

  it('gives back every printable ASCII string exactly when the server reads it', () => {
    let all = '';
    for (let c = 0x20; c <= 0x7e; c++) all += String.fromCharCode(c);
    for (const v of [all, `${all}\\`, `\\${all}'`, "'''\\\\\\'"]) expect(serverReads(confString(v))).toBe(v);
  });

  it.each([
    ['a newline', 'x\nrecovery_target_action = promote', 'U+000A at offset 1'],
    ['a carriage return', 'x\r', 'U+000D at offset 1'],
    ['NUL', 'x\u0000y', 'U+0000 at offset 1'],
    ['a tab', 'qa\tb', 'U+0009 at offset 2'],
    ['DEL', 'a\u007f', 'U+007F at offset 1'],
    ['a C1 control character', 'a\u0085', 'U+0085 at offset 1'],
  ])('refuses a value with %s, naming the value and the character', (_case, value, where) => {
    let thrown: unknown;
    try {
      confString(value, 'recovery_target_name');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UnsafeConfValueError);
    const e = thrown as UnsafeConfValueError;
    expect(e.code).toBe('CONF_VALUE_UNSAFE');
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toContain(
      `cannot write recovery_target_name = ${JSON.stringify(value)} into postgresql.conf: it holds the control character ${where}`,
    );
    expect(e.message).not.toContain('\n\n');
    expect(e.context).toEqual({ setting: 'recovery_target_name', value: JSON.stringify(value) });
  });

  it('refuses a lone surrogate, which has no UTF-8 spelling', () => {
    expect(() => confString('a\ud800b')).toThrow('it is not valid UTF-8 (a lone surrogate)');
  });
});

describe('restore point names', () => {
  it.each([' qa-lead', 'qa-trail ', 'qa\\tb', 'qa-bs\\', "it's", 'x'.repeat(63), 'é'.repeat(31), ' ', '"quoted"'])('accepts %j', (name) => {
    expect(restorePointNameProblem(name)).toBeNull();
  });

  it.each([
    ['', 'it is empty'],
    ['x'.repeat(64), 'it is 64 bytes long, over the 63 Postgres allows'],
    ['é'.repeat(32), 'it is 64 bytes long, over the 63 Postgres allows'],
    ['qa\tb', 'it holds the control character U+0009 at offset 2'],
    ['x\nrmgr: Transaction', 'it holds the control character U+000A at offset 1'],
  ])('refuses %j: %s', (name, problem) => {
    expect(restorePointNameProblem(name)).toBe(problem);
  });

  it('counts UTF-8 bytes as Postgres does, not UTF-16 units', () => {
    expect(utf8Bytes('a')).toBe(1);
    expect(utf8Bytes('é')).toBe(2);
    expect(utf8Bytes('€')).toBe(3);
    expect(utf8Bytes('😀')).toBe(4);
  });

  it('refuses quotes and backslashes for pgBackRest, which writes them unescaped', () => {
    expect(pgbackrestConfValueProblem(' qa-lead')).toBeNull();
    expect(pgbackrestConfValueProblem('qa-bs\\')).toBe(
      'it holds a backslash at offset 5, which pgBackRest writes into postgresql.auto.conf unescaped',
    );
    expect(pgbackrestConfValueProblem("it's")).toBe(
      'it holds a single quote at offset 2, which pgBackRest writes into postgresql.auto.conf unescaped',
    );
    expect(pgbackrestConfValueProblem('a\nb')).toBe('it holds the control character U+000A at offset 1');
  });
});
