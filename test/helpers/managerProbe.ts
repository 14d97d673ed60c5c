/**
 * Runs one stop of a node's server through its manager and prints what came of it as JSON
 * ({ok} or {error, message}); test/adapters/serverManager.test.ts runs it in a mount namespace
 * of its own, with a made-up /etc/postgresql bound over the machine's.
 *   tsx test/helpers/managerProbe.ts <manager> <dataDir>
 */
import { stopPostgres } from '../../adapters/serverStart.js';
import { parseServerManager } from '../../domain/serverManager.js';

const [spelled, dataDir] = process.argv.slice(2);
try {
  await stopPostgres({
    node: 'a',
    binDir: '/usr/lib/postgresql/15/bin',
    dataDir: dataDir!,
    osUser: 'postgres',
    manager: parseServerManager(spelled!),
    mode: 'fast',
    wait: true,
    timeoutSeconds: 5,
  });
  console.log(JSON.stringify({ ok: true }));
} catch (err) {
  console.log(JSON.stringify({ error: (err as Error).constructor.name, message: (err as Error).message }));
}
