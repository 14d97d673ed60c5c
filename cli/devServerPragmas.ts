/**
 * SQLite settings of the Temporal CLI dev server (the dev stack's, the test hosts', and the engine
 * of `pgdr restore --standalone`): a write-ahead journal synced at its checkpoints, not at every
 * commit. Each persistence operation took 12.8-13.1 ms with SQLite's default (a rollback journal,
 * fsync per commit) against 5.9-6.3 ms on the dev VM's disk. A killed server loses nothing (the
 * journal is in the page cache); only the host crashing can lose its last commits.
 */
export const SQLITE_PRAGMAS = ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'];
