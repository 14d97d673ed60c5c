/** Generates the self-signed CA and the MinIO server certificate into a directory (compose). */
import { ensureTls } from './stack/tls.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: tsx scripts/certs.ts <dir> [host...]');
const hosts = process.argv.slice(3);
const files = await ensureTls(dir, hosts);
console.log(`certs: CA ${files.caCert}, minio certs in ${files.minioCertsDir}`);
