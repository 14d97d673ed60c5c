import { describe, expect, it } from 'vitest';
import { printable, printableJson, table } from '../../cli/format.js';

describe('printable', () => {
  it('escapes C0 controls, DEL, C1 controls and bidi overrides visibly and keeps the rest', () => {
    expect(printable('a\u0000b\r\nc\t\u001b[31m\u007f\u009b\u202e\u2066 é ✓ "q" \\')).toBe('a\\x00b\\r\\nc\\t\\x1b[31m\\x7f\\x9b\\u202e\\u2066 é ✓ "q" \\');
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
    expect(table(['A', 'B'], [['x\u001by', 'z'], ['w', null]])).toBe('A       B\nx\\x1by  z\nw       -');
  });
});
