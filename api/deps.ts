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
}
