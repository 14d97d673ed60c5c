// The only workflowsPath: every procedure is exported from here.
export { clusterStatus } from './clusterStatus.js';
export { backup } from './backup.js';
export { expireBackups } from './expireBackups.js';
export { clusterLock } from './lock.js';
export { walArchiveCheck } from './walArchiveCheck.js';
export { enableArchiving } from './enableArchiving.js';
export { restorePreflight } from './restorePreflight.js';
export { pitrRestore } from './pitrRestore.js';
export { restoreDrill } from './restoreDrill.js';
export { replicaRebuild } from './replicaRebuild.js';
export { switchover } from './switchover.js';
export { restoredCopies } from './restoredCopies.js';
export { dropRestore } from './dropRestore.js';
export { copyBackup } from './copyBackup.js';
