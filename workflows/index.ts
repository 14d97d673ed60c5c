// The only workflowsPath: every procedure is exported from here.
export { clusterStatus } from './clusterStatus.js';
