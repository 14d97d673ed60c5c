/**
 * npm run build: the compiled pgdr that production hosts run, in dist/.
 *
 *   dist/cli.js               pgdr (the CLI)
 *   dist/worker.js            pgdr-worker (control worker and/or node agents)
 *   dist/api.js               pgdr-api
 *   dist/pgdr-wal.mjs         pgdr wal push|fetch (archive_command), dependencies bundled in
 *   dist/wal-prepare-thread.mjs the node agent's WAL pusher threads (Node built-ins only)
 *   dist/workflow-bundle.js   the workflow code, bundled once here instead of at every worker start
 *   dist/health.js            pgdr-worker's health check (are this host's queues polled?)
 *
 * esbuild, not tsc: one file per entry starts faster than hundreds of emitted modules, and it is
 * what the archive program was already built with. Type checking stays with `tsc --noEmit`.
 * The CLI and the archive program carry their dependencies (they start per command; no native
 * modules); the worker and the API leave node_modules external (Temporal's native core bridge,
 * and the packages they load at run time).
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { repoRoot } from './stack/layout.js';

const dist = join(repoRoot, 'dist');

// Bundled ESM code that calls require() (CommonJS dependencies inside) needs one in scope.
const requireShim =
  "import { createRequire as __pgdrCreateRequire } from 'node:module'; const require = __pgdrCreateRequire(import.meta.url);";

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  // The oldest Node pgdr runs on; newer ones run it unchanged.
  target: 'node20',
  format: 'esm',
  logLevel: 'warning',
  sourcemap: 'linked',
  // worker/workflowCode.ts: the compiled worker always loads the prebuilt workflow bundle.
  define: { PGDR_BUILD: JSON.stringify('dist') },
};

const entries: { entry: string; out: string; options: BuildOptions }[] = [
  // Split: what only some commands need (the archive program's S3 client) is a chunk of its own,
  // loaded when used, so `pgdr status` does not parse it. Whitespace and syntax minified (less to
  // parse at every start); identifiers kept, since error classes are known by name.
  {
    entry: 'cli/main.ts',
    out: 'cli.js',
    options: {
      banner: { js: requireShim },
      splitting: true,
      chunkNames: 'chunks/[name]-[hash]',
      minifyWhitespace: true,
      minifySyntax: true,
      // `restore --standalone` (cli/standalone.ts, a chunk loaded by it alone) runs a worker: Temporal's
      // worker package, with its native bridge and bundler, is loaded from node_modules, as dist/worker.js does.
      external: ['@temporalio/worker'],
    },
  },
  { entry: 'worker/main.ts', out: 'worker.js', options: { packages: 'external' } },
  { entry: 'api/main.ts', out: 'api.js', options: { packages: 'external' } },
  // The worker's health check (the container image's HEALTHCHECK).
  { entry: 'worker/health.ts', out: 'health.js', options: { packages: 'external' } },
  { entry: 'archive/main.ts', out: 'pgdr-wal.mjs', options: { banner: { js: requireShim }, minify: true, sourcemap: false } },
  // The agent archiver's pusher threads (adapters/walPushers.ts): Node's built-ins only.
  {
    entry: 'adapters/walPrepareThread.ts',
    out: 'wal-prepare-thread.mjs',
    options: { banner: { js: requireShim }, minifySyntax: true, sourcemap: false },
  },
];

/**
 * The entry points, without the workflow bundle: a second or two. `stack up` runs this, so the
 * launchers in bin/ never run a dist/ older than the sources in a checkout; a workflow bundle
 * older than the workflow code is removed (the compiled worker then asks for `npm run build`).
 */
export async function buildEntries(): Promise<void> {
  mkdirSync(dist, { recursive: true });
  const results = await Promise.all(
    entries.map((e) =>
      build({
        ...common,
        ...e.options,
        write: false,
        // Split builds name an output directory; the entry keeps its name there.
        ...(e.options.splitting
          ? { entryPoints: { [e.out.replace(/\.m?js$/, '')]: join(repoRoot, e.entry) }, outdir: dist }
          : { entryPoints: [join(repoRoot, e.entry)], outfile: join(dist, e.out) }),
      }),
    ),
  );
  // Each file into place by rename: a running stack's archive_command never reads half of dist/pgdr-wal.mjs.
  for (const f of results.flatMap((r) => r.outputFiles ?? [])) writeAtomically(f.path, f.contents);
  removeStaleBundle();
}

function writeAtomically(path: string, contents: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/** The newest modification time of a file under dir. */
function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile())
    .reduce((t, d) => Math.max(t, statSync(join(d.parentPath, d.name)).mtimeMs), 0);
}

/** The prebuilt bundle holds workflows/ and the domain/ code they import: older than either, it goes. */
function removeStaleBundle(): void {
  const bundle = join(dist, 'workflow-bundle.js');
  let built: number;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return;
  }
  if (Math.max(newest(join(repoRoot, 'workflows')), newest(join(repoRoot, 'domain'))) > built) rmSync(bundle, { force: true });
}

/** Everything: the entry points and the workflow bundle (webpack, loaded only here). */
export async function buildAll(): Promise<void> {
  const [{ bundleWorkflowCode }, { workflowsPath }] = await Promise.all([import('@temporalio/worker'), import('../worker/workers.js')]);
  const [, bundle] = await Promise.all([buildEntries(), bundleWorkflowCode({ workflowsPath, logger: quietLogger })]);
  writeAtomically(join(dist, 'workflow-bundle.js'), new TextEncoder().encode(bundle.code));
}

async function main(): Promise<void> {
  const t0 = performance.now();
  await buildAll();
  console.log(`build: dist/ ready (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
}

// Webpack's progress chatter at info level is noise here; warnings and errors still show.
const quietLogger = {
  log: (level: string, message: string) => void (['WARN', 'ERROR'].includes(level) && console.error(message)),
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.error(message),
  error: (message: string) => console.error(message),
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(`build: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
