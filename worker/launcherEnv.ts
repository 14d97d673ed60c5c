/**
 * What bin/pgdr-worker set in the environment for the worker process alone. glibc has read
 * MALLOC_MMAP_THRESHOLD_ by the time JavaScript runs, so taking it out of process.env changes
 * nothing for this process, and the tools and servers it starts (pg_basebackup, a restored
 * postgres) keep glibc's default. A value the operator set is theirs, and stays.
 */
export function dropLauncherOnlyEnv(env: NodeJS.ProcessEnv): void {
  if (env.PGDR_LAUNCHER_MALLOC !== '1') return;
  delete env.MALLOC_MMAP_THRESHOLD_;
  delete env.PGDR_LAUNCHER_MALLOC;
}
