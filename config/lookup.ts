import { UnknownClusterError, UnknownNodeError } from '../domain/errors.js';
import type { ClusterConfig, NodeConfig, PgdrConfig } from './schema.js';

export function clusterOf(config: PgdrConfig, cluster: string): ClusterConfig {
  const cc = config.clusters[cluster];
  if (!cc) throw new UnknownClusterError(cluster, Object.keys(config.clusters));
  return cc;
}

export function nodeOf(config: PgdrConfig, cluster: string, node: string): NodeConfig {
  const nc = clusterOf(config, cluster).nodes[node];
  if (!nc) throw new UnknownNodeError(cluster, node, Object.keys(clusterOf(config, cluster).nodes));
  return nc;
}
