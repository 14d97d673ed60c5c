/**
 * How the API meets requests before (or instead of) a route: what it logs of them, the methods
 * a path answers (for 405), and Node's own refusals, all in pgdr's envelope.
 */
import { STATUS_CODES, maxHeaderSize } from 'node:http';
import type { Duplex } from 'node:stream';
import { apiError } from './errors.js';
import type { RouteDef } from './routeTable.js';

/** What the API logs of a request: never its query string (a token or a secret could ride in one). */
export const logSerializers = {
  req: (req: { method: string; url: string; ip?: string }) => ({ method: req.method, path: pathOf(req.url), remoteAddress: req.ip }),
};

export const pathOf = (url: string) => url.split('?')[0]!;

/** The methods the route table serves at a concrete path (for 405 and its allow header). */
export function methodsAt(routes: RouteDef[], path: string): string[] {
  return routes.filter((r) => routePattern(r.path).test(path)).map((r) => r.method);
}

const patterns = new Map<string, RegExp>();
function routePattern(path: string): RegExp {
  let re = patterns.get(path);
  if (!re) {
    const body = path
      .split(/(:[A-Za-z]+|\*)/)
      .map((part) => (part === '*' ? '.+' : part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`);
    patterns.set(path, re);
  }
  return re;
}

/** Node's own refusals (a request line or headers over http.maxHeaderSize, a malformed request) in pgdr's envelope. */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const reply =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? apiError('HEADERS_TOO_LARGE', `request: the request line and headers are over ${maxHeaderSize} bytes`, {
          limitBytes: maxHeaderSize,
        })
      : apiError('BAD_REQUEST', `request: malformed http request (${err.code ?? err.message})`);
  const text = JSON.stringify(reply.body);
  socket.end(
    `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}
