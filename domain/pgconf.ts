/**
 * Values as postgresql.conf (and postgresql.auto.conf) take them, and restore point names as
 * Postgres creates them. Pure and workflow-safe.
 *
 * The server's config scanner (guc-file.l) reads a quoted value as `'([^'\\\n]|\\.|'')*'` and
 * then interprets backslash escapes in it (\b \f \n \r \t, octal, and `\x` for any other x), so
 * a value is written with `'` doubled and `\` doubled; a line break cannot appear inside it.
 */
import { UnsafeConfValueError } from './errors.js';

/**
 * The longest restore point name: pg_create_restore_point refuses MAXFNAMELEN (64) bytes or
 * more, and recovery_target_name takes the same.
 */
export const RESTORE_POINT_NAME_MAX_BYTES = 63;

/** What a restore point name must be, for messages and the API's schema. */
export const RESTORE_POINT_NAME_FORM = `1-${RESTORE_POINT_NAME_MAX_BYTES} bytes (UTF-8) without control characters; leading and trailing spaces count`;

// C0 controls (NUL, tab, newline, CR, ...), DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The first control character of a value and where it is, if any. */
function controlCharacter(value: string): { at: number; code: string } | null {
  const m = CONTROL.exec(value);
  return m ? { at: m.index, code: `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}` } : null;
}

/** UTF-8 length in bytes (no TextEncoder: workflow code uses this too). */
export function utf8Bytes(value: string): number {
  let n = 0;
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/** Why a value cannot be written into postgresql.conf, or null when it can. */
export function confValueProblem(value: string): string | null {
  const c = controlCharacter(value);
  if (c) return `it holds the control character ${c.code} at offset ${c.at}`;
  if (LONE_SURROGATE.test(value)) return 'it is not valid UTF-8 (a lone surrogate)';
  return null;
}

/**
 * A value quoted for postgresql.conf: `'` and `\` doubled. Throws UnsafeConfValueError for a
 * value that has no safe spelling there (a control character: a line break would end the
 * setting and start another).
 */
export function confString(value: string, setting?: string): string {
  const problem = confValueProblem(value);
  if (problem) throw new UnsafeConfValueError(value, problem, setting);
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Why a restore point name cannot be used, or null: what pg_create_restore_point creates and pgdr can quote. */
export function restorePointNameProblem(name: string): string | null {
  if (name.length === 0) return 'it is empty';
  const conf = confValueProblem(name);
  if (conf) return conf;
  const bytes = utf8Bytes(name);
  if (bytes > RESTORE_POINT_NAME_MAX_BYTES) return `it is ${bytes} bytes long, over the ${RESTORE_POINT_NAME_MAX_BYTES} Postgres allows`;
  return null;
}

/**
 * Why pgBackRest cannot carry a value into postgresql.auto.conf, or null. pgBackRest writes
 * each recovery option as `key = '<value>'` without escaping (restoreRecoveryConf), so a quote
 * would end the value and a backslash would be read as an escape.
 */
export function pgbackrestConfValueProblem(value: string): string | null {
  const conf = confValueProblem(value);
  if (conf) return conf;
  const bad = /['\\]/.exec(value);
  if (bad)
    return `it holds ${bad[0] === "'" ? 'a single quote' : 'a backslash'} at offset ${bad.index}, which pgBackRest writes into postgresql.auto.conf unescaped`;
  return null;
}
