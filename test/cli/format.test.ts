import { describe, expect, it } from 'vitest';
import { printable, printableJson, table } from '../../cli/format.js';
import { renderOperation } from '../../cli/commands/backups.js';
import { parseApiUrl } from '../../cli/program.js';

describe('printable', () => {
  it('escapes C0 controls, DEL, C1 controls and bidi overrides visibly and keeps the rest', () => {
    expect(printable('a\u0000b\r\nc\t\u001b[31m\u007f\u009b\u202e\u2066 é ✓ "q" \\')).toBe(
      'a\\x00b\\r\\nc\\t\\x1b[31m\\x7f\\x9b\\u202e\\u2066 é ✓ "q" \\',
    );
  });

  it('keeps line breaks only when asked, for multi-line messages, and escapes CR even then', () => {
    expect(printable('error\nHINT: x\r\u001b', { keepNewlines: true })).toBe('error\nHINT: x\\r\\x1b');
  });

  it('prints JSON that still parses to the exact value, with nothing a terminal acts on', () => {
    const value = { note: 'a\u0000\u001b\u009b\u202e\u007f\n' };
    const out = printableJson(value);
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(JSON.parse(out)).toEqual(value);
  });

  it('is applied to every table cell, and widths count the escaped text', () => {
    expect(
      table(
        ['A', 'B'],
        [
          ['x\u001by', 'z'],
          ['w', null],
        ],
      ),
    ).toBe('A       B\nx\\x1by  z\nw       -');
  });
});

describe('renderOperation (pgdr operation, table mode)', () => {
  const op = { workflowId: 'backup/demo/1', uiUrl: 'http://ui/1', activities: [], progress: { step: 'streaming\u001b[2J' } };

  it('shows status, step and link, and a failure with its control characters escaped', () => {
    const failed = renderOperation({ ...op, status: 'FAILED', failure: { message: 'boom\u009b\nHINT: x', type: null, details: null } });
    expect(failed).toBe('backup/demo/1: failed (streaming\\x1b[2J)\n  http://ui/1\n  failure: boom\\x9b\nHINT: x');
  });

  it('shows the result as indented JSON', () => {
    expect(renderOperation({ ...op, progress: null, status: 'COMPLETED', result: { ok: true } })).toBe(
      'backup/demo/1: completed\n  http://ui/1\n  result: {\n    "ok": true\n  }',
    );
  });
});

describe('parseApiUrl (--api-url)', () => {
  it('keeps an http(s) URL, dropping a trailing /', () => {
    expect(parseApiUrl('http://127.0.0.1:8484/')).toBe('http://127.0.0.1:8484');
    expect(parseApiUrl('https://pgdr.example/prefix')).toBe('https://pgdr.example/prefix');
  });

  it.each([
    ['not a url', 'expected an http or https URL such as http://127.0.0.1:8484.'],
    ['ftp://host', '(got ftp:)'],
    ['http://u:secret@host', 'without a user or password'],
    ['http://host/?token=x', 'without a query or fragment'],
  ])('refuses %s, saying what it expected', (value, says) => {
    expect(() => parseApiUrl(value)).toThrow(says);
  });
});
