import type { Client } from '@temporalio/client';
import type { S3Client } from '@aws-sdk/client-s3';
import type { PgdrConfig } from '../config/schema.js';

/** What the API's handlers may use. The API holds no database credentials of its own. */
export interface ApiDeps {
  config: PgdrConfig;
  temporal: Client;
  s3: S3Client;
  /** The bearer token every request except /healthz must carry. */
  token: string;
  /**
   * How long a mutating start waits for its workflow to try the cluster lock before it answers
   * 202 with the lock still pending (no worker polling).
   * @default LOCK_VERDICT_WAIT_MS (control/procedures.ts)
   */
  lockVerdictWaitMs?: number;
}
