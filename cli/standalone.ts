/**
 * Break-glass restore: `pgdr restore <cluster> --standalone <storage-config.yaml>` when nothing
 * but the bucket is left. It starts an embedded engine for the occasion (the Temporal CLI dev
 * server on a temporary directory and free ports, and an in-process worker serving the control
 * queue and this host's agent queue), runs the same pitrRestore workflow the API starts, follows
 * it like `pgdr restore --wait`, and tears everything down at the end, on failure and on Ctrl-C
 * (the first cancels the restore, which cleans up what it made; a second stops at once).
 *
 * The catalog and the WAL in the bucket are the whole truth: no node of the cluster is probed
 * (none may be reachable, and a server on this host is no member of it), so the pre-flight
 * follows the newest timeline in the archive, and its report is stored in the bucket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { loadStandaloneConfig } from '../config/standalone.js';
import { describeIssues } from '../config/load.js';
import { SQLITE_PRAGMAS } from './devServerPragmas.js';
import { PgdrCluster, PgdrProcedure } from '../domain/naming.js';
import type { RestoreReport } from '../domain/restore.js';
import { createS3Client } from '../adapters/storage.js';
import { freePort } from '../adapters/net.js';
import { createSecretReader } from '../adapters/secrets.js';
import { restoreInput } from '../control/inputs.js';
import { ProcedureRefusedError, startJudgedProcedure } from '../control/procedures.js';
import { errorRowOfCode } from '../domain/errors.js';
import { ApiError } from './client.js';
import { pitrRestore, type RestoreVerdictFacts } from '../workflows/pitrRestore.js';
import { restoreBody as restoreBodySchema, restoreRequest } from '../api/routes/restores.js';
import { operationRoute } from '../api/routes/operations.js';
import { createWorkers } from '../worker/workers.js';
import { compiled, workflowBundlePath } from '../worker/workflowCode.js';
import { finish, UsageError, type Invocation } from './output.js';
import { follow, type Operation } from './progress.js';

/** Where the Temporal CLI is looked for: PATH, then the tools directory scripts/bootstrap.sh fills. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const dirs = [...(env.PATH ?? '').split(delimiter).filter(Boolean), join(homedir(), '.cache', 'pgdr', 'tools', 'bin')];
  for (const dir of dirs) {
    const path = join(dir, 'temporal');
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  throw new Error(
    `pgdr restore --standalone needs the Temporal CLI (temporal) to run its embedded engine, and found none on PATH or in ${join(homedir(), '.cache', 'pgdr', 'tools', 'bin')}\nHINT: install the temporal binary (scripts/bootstrap.sh puts it in ~/.cache/pgdr/tools/bin)`,
  );
}

export interface EmbeddedEngine {
  address: string;
  dir: string;
  stop(): Promise<void>;
}

/**
 * `temporal server start-dev` arguments: headless on loopback, namespace default, pgdr's search
 * attributes; in memory unless a database file is named. The fast test tier starts its server
 * with these too.
 */
export function devServerArgs(o: { port: number; httpPort: number; metricsPort: number; dbFile?: string }): string[] {
  return [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--http-port',
    String(o.httpPort),
    '--metrics-port',
    String(o.metricsPort),
    ...(o.dbFile ? ['--db-filename', o.dbFile, ...SQLITE_PRAGMAS] : []),
    '--namespace',
    'default',
    '--log-level',
    'error',
    ...[PgdrCluster, PgdrProcedure].flatMap((k) => ['--search-attribute', `${k.name}=Keyword`]),
  ];
}

/**
 * The Temporal CLI dev server on a temporary directory and free ports, headless, with pgdr's
 * search attributes. It runs in its own process group, so a Ctrl-C at the terminal reaches
 * pgdr (which cancels the restore and waits for its cleanup) and not the engine under it.
 */
export async function startEmbeddedEngine(opts: { temporal?: string; log?: (line: string) => void } = {}): Promise<EmbeddedEngine> {
  const bin = opts.temporal ?? findTemporalCli();
  const dir = mkdtempSync(join(tmpdir(), 'pgdr-standalone-'));
  const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(bin, devServerArgs({ port, httpPort, metricsPort, dbFile: join(dir, 'temporal.db') }), {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Last resort: never leave the engine behind, whatever ends this process.
  const killOnExit = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        // gone
      }
      const timer = setTimeout(killOnExit, 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once a client can list namespaces (the server also registers the search attributes).
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(
        `the embedded Temporal server (${bin}) ended at start: ${stderr.trim().split('\n').slice(-5).join('\n') || 'no output'}`,
      );
    }
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await c.workflowService.describeNamespace({ namespace: 'default' });
        opts.log?.(`embedded Temporal server on ${address} (${dir})`);
        return { address, dir, stop };
      } finally {
        await c.close();
      }
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`the embedded Temporal server on ${address} did not answer within 60 s: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * bin/pgdr of this installation, for the restored copy's restore_command: beside dist/ when
 * compiled (this module is a chunk of dist/cli.js, in dist/chunks/), else beside cli/.
 */
function launcher(): string {
  return compiled && process.argv[1]
    ? join(dirname(realpathSync(process.argv[1])), '..', 'bin', 'pgdr')
    : fileURLToPath(new URL('../bin/pgdr', import.meta.url));
}

/** The restore options of `pgdr restore` as the API's request body (cli/commands/restores.ts restoreBody). */
export interface StandaloneRestoreArgs {
  cluster: string;
  configFile: string;
  body: Record<string, unknown>;
}

/**
 * Runs pitrRestore on the embedded engine and follows it to its end (always: nobody could
 * follow it later, the engine goes with this process). Prints like `pgdr restore --wait`.
 */
export async function standaloneRestore(inv: Invocation, a: StandaloneRestoreArgs, render: (r: RestoreReport) => string): Promise<void> {
  const say = (line: string) => process.stderr.write(`${line}\n`);
  // Everything that can be judged before an engine starts: the config file and the request.
  const probe = loadStandaloneConfig(a.configFile);
  const configured = Object.keys(probe.clusters)[0]!;
  if (configured !== a.cluster)
    throw new UsageError(
      `cluster is "${a.cluster}", but ${a.configFile} is the storage config of cluster "${configured}": expected "${configured}"`,
    );
  const checked = restoreBodySchema.safeParse(a.body);
  if (!checked.success)
    throw new UsageError(
      `invalid restore request:\n${describeIssues(checked.error, a.body)
        .map((i) => `  - ${i.field}: ${i.message}`)
        .join('\n')}`,
    );

  // The worker's own signal handling would stop it at Ctrl-C, before the restore cleaned up.
  Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
  const undo: (() => Promise<unknown>)[] = [];
  let interrupted = 0;
  let onSignal: (() => void) | undefined;
  const signal = () => {
    interrupted++;
    onSignal?.();
  };
  process.on('SIGINT', signal);
  process.on('SIGTERM', signal);
  try {
    say('pgdr restore --standalone: starting the embedded engine (Temporal dev server and worker)');
    const engine = await startEmbeddedEngine({ log: say });
    undo.push(() => engine.stop());
    if (interrupted) throw new Error('interrupted before the restore started; nothing was changed');
    const config = loadStandaloneConfig(a.configFile, { address: engine.address, taskQueue: 'pgdr' }, launcher());
    const readSecret = createSecretReader();
    const connection = await NativeConnection.connect({ address: engine.address });
    undo.push(() => connection.close());
    // The compiled CLI's bundle lies beside dist/cli.js (this module is one of its chunks).
    const bundle = workflowBundlePath(
      compiled && !process.env.PGDR_WORKFLOW_BUNDLE && process.argv[1]
        ? { ...process.env, PGDR_WORKFLOW_BUNDLE: join(dirname(process.argv[1]), 'workflow-bundle.js') }
        : process.env,
    );
    const workers: Worker[] = await createWorkers({
      config,
      connection,
      plan: { control: true, agents: [{ cluster: a.cluster, node: Object.keys(config.clusters[a.cluster]!.nodes)[0]! }] },
      shutdownGraceTime: '10 seconds',
      ...(bundle ? { workflowBundle: { codePath: bundle } } : {}),
    });
    const running = Promise.all(workers.map((w) => w.run()));
    undo.push(async () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
    });
    const clientConnection = await Connection.connect({ address: engine.address });
    undo.push(() => clientConnection.close());
    const temporal = new Client({ connection: clientConnection, namespace: config.temporal.namespace });
    if (interrupted) throw new Error('interrupted before the restore started; nothing was changed');

    // The request as the API makes it, and the same input, except: no node is probed (the
    // catalog and the archive decide the timeline).
    const request = restoreRequest(config, a.cluster, checked.data, new Date());
    const input = restoreInput(config, request, 'cli-standalone');
    delete input.nodes;
    // A refusal (the pre-flight's problems, a busy destination) is told as the API tells it: exit 1.
    const started = await startJudgedProcedure<typeof pitrRestore, RestoreVerdictFacts>(
      { config, temporal },
      'pitrRestore',
      a.cluster,
      pitrRestore,
      [input],
    ).catch((err: unknown) => {
      if (!(err instanceof ProcedureRefusedError)) throw err;
      throw new ApiError(errorRowOfCode(err.code)?.http ?? 422, { error: { code: err.code, message: err.message } });
    });
    const f = started.facts;
    const d = f.destination;
    if (inv.format === 'table')
      console.log(`started ${started.workflowId}: backup ${f.backupId} to ${d.node}:${d.dataDir} port ${d.port} (embedded engine)`);
    onSignal = () => {
      if (interrupted === 1) {
        say('interrupted: cancelling the restore (it removes what it made); Ctrl-C again to stop at once');
        void started.handle.cancel().catch(() => undefined);
      } else process.exit(130); // the exit handler kills the engine
    };
    if (interrupted) onSignal();
    const deps = { config, temporal, s3: createS3Client(config.storage, readSecret), token: '' };
    const op = await follow(null, started.workflowId, {
      get: async (id) =>
        (await operationRoute.handler({ params: { '*': id }, query: {}, body: undefined, deps } as never)).body as Operation,
    });
    const startedAnswer = {
      workflowId: started.workflowId,
      uiUrl: started.uiUrl,
      restoreId: f.restoreId,
      backupId: f.backupId,
      destination: d,
    };
    finish(op, (r) => render(r as RestoreReport), inv.format, { started: startedAnswer, operation: op });
  } finally {
    onSignal = undefined;
    for (const u of undo.reverse())
      await u().catch((err: unknown) => say(`pgdr: tearing down the embedded engine: ${(err as Error).message}`));
    process.removeListener('SIGINT', signal);
    process.removeListener('SIGTERM', signal);
  }
}
