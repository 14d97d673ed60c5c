/**
 * Where the control worker's workflow code comes from. Production runs the bundle that
 * `npm run build` made (dist/workflow-bundle.js), as Temporal recommends: no webpack run, no
 * 0.8 s and no bundler memory at every start. The sources, under tsx (dev and tests), bundle
 * workflows/index.ts at start unless PGDR_WORKFLOW_BUNDLE names a bundle.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Set by scripts/build.ts (esbuild define) in every dist/ entry; not defined when the sources run. */
declare const PGDR_BUILD: string | undefined;

/** True in the compiled dist/ entries. */
export const compiled = typeof PGDR_BUILD === 'string';

/**
 * The prebuilt bundle to load: $PGDR_WORKFLOW_BUNDLE when set; else, in the compiled worker,
 * always workflow-bundle.js beside it; else (sources) undefined, meaning bundle workflowsPath.
 */
export function workflowBundlePath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = env.PGDR_WORKFLOW_BUNDLE || (compiled ? fileURLToPath(new URL('./workflow-bundle.js', import.meta.url)) : undefined);
  if (path !== undefined && !existsSync(path)) {
    throw new Error(
      env.PGDR_WORKFLOW_BUNDLE
        ? `PGDR_WORKFLOW_BUNDLE is "${path}": expected the path of a workflow bundle (dist/workflow-bundle.js from npm run build), and there is no such file`
        : `the compiled worker needs its workflow bundle ${path}, and there is no such file\nHINT: run npm run build, or reinstall the package`,
    );
  }
  return path;
}
