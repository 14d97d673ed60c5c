/**
 * Path rules for every path that comes from a request or from the config. Pure and
 * workflow-safe. Postgres tools hand some paths to /bin/sh (pg_ctl, pg_verifybackup running
 * pg_waldump, archive_command and restore_command templates), so the character set is the
 * guard: a path made only of these characters cannot reach a shell as anything but a word.
 */

/** Letters, digits and `/ . _ - + @ , = :`; nothing a shell or postgresql.conf interprets. */
export const SAFE_PATH_CHARS = /^[A-Za-z0-9/._+@,=:-]+$/;
export const SAFE_PATH_FORM = 'an absolute path of letters, digits and / . _ - + @ , = : only, with no "." or ".." segment and no "//"';
export const MAX_PATH_LENGTH = 1024;

/** Shows a value with control and non-ASCII characters escaped, so a message cannot be forged. */
export function shown(value: string): string {
  return JSON.stringify(value);
}

/** Why a path is not acceptable, or null. A single trailing "/" is tolerated (see normalPath). */
export function pathProblem(value: string): string | null {
  if (value.length === 0 || value.length > MAX_PATH_LENGTH) return `expected ${SAFE_PATH_FORM}, of 1-${MAX_PATH_LENGTH} characters`;
  if (!value.startsWith('/')) return `expected ${SAFE_PATH_FORM}: it is not absolute`;
  if (!SAFE_PATH_CHARS.test(value)) {
    const bad = [...new Set([...value].filter((ch) => !/[A-Za-z0-9/._+@,=:-]/.test(ch)))].map((ch) => shown(ch)).join(' ');
    return `expected ${SAFE_PATH_FORM}: it contains ${bad}`;
  }
  if (value.includes('//')) return `expected ${SAFE_PATH_FORM}: it contains "//"`;
  const body = value.length > 1 && value.endsWith('/') ? value.slice(0, -1) : value;
  if (body.split('/').some((seg) => seg === '.' || seg === '..')) return `expected ${SAFE_PATH_FORM}: it has a "." or ".." segment`;
  return null;
}

/** The path without a trailing "/": one spelling for one place (symlinks are resolved on the host). */
export function normalPath(value: string): string {
  return value.length > 1 ? value.replace(/\/$/, '') : value;
}

/** a is b, or lies inside it. Both canonical. */
export function isWithin(a: string, b: string): boolean {
  const root = normalPath(b);
  return a === root || a.startsWith(root === '/' ? '/' : `${root}/`);
}

/** The two paths are the same place, or one contains the other. Both canonical. */
export function overlaps(a: string, b: string): boolean {
  return isWithin(a, b) || isWithin(b, a);
}

/** A configured node's live directory that a destination (a data or tablespace directory) touches. */
export interface LiveDirOverlap {
  cluster: string;
  node: string;
  kind: 'data' | 'wal' | 'tablespace';
  path: string;
  /** The destination is that directory, lies inside it, or contains it. */
  relation: 'is' | 'inside' | 'contains';
}
