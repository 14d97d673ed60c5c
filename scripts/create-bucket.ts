/** Creates the configured bucket when it does not exist (compose one-shot). */
import { loadConfig } from '../config/load.js';
import { createS3Client } from '../adapters/storage.js';
import { createSecretReader } from '../adapters/secrets.js';
import { ensureBucket } from './stack/minio.js';

const config = loadConfig();
await ensureBucket(createS3Client(config.storage, createSecretReader()), config.storage.bucket);
console.log(`bucket ${config.storage.bucket} ready`);
