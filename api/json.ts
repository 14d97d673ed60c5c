/**
 * The API's JSON body parser: Fastify's own (which refuses __proto__ and constructor.prototype
 * keys), behind a nesting limit checked by a flat scan first, so no parser or validator below
 * recurses deep enough to overflow the stack.
 */
import type { FastifyInstance } from 'fastify';
import { apiError, RequestRejectedError } from './errors.js';

/** Deepest nesting of objects and arrays a body may have. Real bodies use 3. */
export const MAX_JSON_DEPTH = 64;

/** Whether text nests objects and arrays deeper than limit; one pass, no recursion. Strings are skipped. */
export function nestedDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // a backslash escapes the next character
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x7b || ch === 0x5b) {
      if (++depth > limit) return true;
    } else if (ch === 0x7d || ch === 0x5d) depth--;
  }
  return false;
}

export function installJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
      done(
        new RequestRejectedError(
          apiError('JSON_TOO_DEEP', `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels of objects and arrays`, {
            limit: MAX_JSON_DEPTH,
          }),
        ),
        undefined,
      );
      return;
    }
    void parse(req, text, (err, value) => {
      if (!err) return done(null, value);
      if (text.length === 0) return done(err, undefined);
      done(new RequestRejectedError(invalidJson(text)), undefined);
    });
  });
}

/** Why the default parser refused: a syntax error (its position), or a forbidden prototype key. */
function invalidJson(text: string) {
  try {
    JSON.parse(text);
    return apiError('INVALID_JSON', 'body: a "__proto__" or "constructor.prototype" key is not accepted');
  } catch (err) {
    return apiError('INVALID_JSON', `body: not valid JSON: ${lowerFirst((err as Error).message)}`);
  }
}

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);
