/**
 * Looking at S3 requests as signed, just before they are sent (after the SDK's signing step):
 * what headers a request went out with, and damage to a body that its signature or checksum
 * should then catch.
 */
import type { S3Client } from '@aws-sdk/client-s3';

export interface SignedRequest {
  method: string;
  headers: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

/** Calls `look` with each request of `s3` once signed; it may replace the request's body. */
export function afterSigning(s3: S3Client, name: string, look: (request: SignedRequest) => void): void {
  s3.middlewareStack.addRelativeTo(
    ((next: (a: unknown) => Promise<unknown>) => async (args: { request: SignedRequest }) => {
      look(args.request);
      return next(args);
    }) as unknown as Parameters<typeof s3.middlewareStack.addRelativeTo>[0],
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name },
  );
}

/** Flips the first byte of a buffer body (a copy: the caller's buffer stays as it was). */
export function damageBody(request: SignedRequest): void {
  if (!Buffer.isBuffer(request.body)) return;
  const body = Buffer.from(request.body);
  body[0] = body[0]! ^ 0xff;
  request.body = body;
}
