// The only workflowsPath: every procedure is exported from here.
export { clusterStatus } from './clusterStatus.js';
export { backup } from './backup.js';
export { expireBackups } from './expireBackups.js';
export { clusterLock } from './lock.js';
