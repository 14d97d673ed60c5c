/** Shapes of the clusterStatus procedure, shared by activities, workflow, API and CLI. */
import { lsnDiff } from './lsn.js';

export interface ArchiverStats {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedAt: string | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedAt: string | null;
}

export interface ReplicationPeer {
  applicationName: string;
  clientAddr: string | null;
  state: string;
  syncState: string;
  sentLsn: string | null;
  replayLsn: string | null;
  replayLagBytes: number | null;
  replayLagSeconds: number | null;
  /** The replication slot the standby streams from (null: none). */
  slotName: string | null;
}

export interface WalReceiver {
  status: string;
  senderHost: string | null;
  senderPort: number | null;
  slotName: string | null;
  receivedTimeline: number | null;
}

/** What the agent on one node reports about its Postgres server. */
export interface NodeProbe {
  node: string;
  role: 'primary' | 'standby';
  systemIdentifier: string;
  serverVersion: number;
  /** wal_segment_size in bytes (absent in probes recorded before it was read). */
  segmentBytes?: number;
  timeline: number;
  /** pg_current_wal_lsn() on a primary; null on a standby. */
  currentLsn: string | null;
  receiveLsn: string | null;
  replayLsn: string | null;
  /**
   * Seconds since the commit of the last transaction this standby replayed; null on a primary.
   * Not a lag: it grows while the primary is idle. The lag is NodeStatus.lagSeconds.
   */
  replayDelaySeconds: number | null;
  /** On a standby: replay paused (pg_wal_replay_pause); null on a primary. */
  replayPaused: boolean | null;
  /** synchronous_standby_names as the server has it ('' when unused). */
  synchronousStandbyNames: string;
  dataChecksums: boolean;
  archiveMode: string;
  archiver: ArchiverStats;
  replication: ReplicationPeer[];
  walReceiver: WalReceiver | null;
  probedAt: string;
}

export interface NodeStatus {
  node: string;
  taskQueue: string;
  reachable: boolean;
  /** Why the node could not be probed, when reachable is false. */
  error?: string;
  probe?: NodeProbe;
  /** For a standby: bytes its replay LSN trails the primary's current LSN. */
  lagBytes?: number | null;
  /**
   * For a standby: seconds its replay trails, as the primary measures it (pg_stat_replication
   * .replay_lag of the standby's connection); 0 once it has replayed all the primary sent (the
   * primary then shows NULL). null when the primary does not list it: not streaming, streaming
   * from another server, or no reachable primary.
   */
  lagSeconds?: number | null;
}

export interface ClusterStatus {
  cluster: string;
  primary: string | null;
  nodes: NodeStatus[];
  /** Problems a DBA should look at, in plain words (empty when healthy). */
  warnings: string[];
  checkedAt: string;
}

/** One node's probe, or why it could not be probed (the input summarizeCluster relates). */
export interface NodeOutcome {
  node: { name: string; taskQueue: string };
  probe?: NodeProbe;
  error?: string;
}

/**
 * The primary's pg_stat_replication row of a standby: by the slot its WAL receiver streams on,
 * else by application_name (pgdr's primary_conninfo names the node), else none.
 */
export function replicationPeerOf(primary: NodeProbe, standby: NodeProbe): ReplicationPeer | undefined {
  const slot = standby.walReceiver?.slotName;
  const bySlot = slot ? primary.replication.find((r) => r.slotName === slot) : undefined;
  return bySlot ?? primary.replication.find((r) => r.applicationName === standby.node);
}

/** Seconds a listed standby's replay trails (see NodeStatus.lagSeconds). */
export function replayLagSeconds(peer: ReplicationPeer | undefined): number | null {
  if (!peer) return null;
  if (peer.replayLagSeconds !== null) return peer.replayLagSeconds;
  // NULL: nothing measured lately. Caught up and streaming: no lag; otherwise unknown.
  return peer.state === 'streaming' && peer.replayLagBytes === 0 ? 0 : null;
}

/** Relates the nodes' probes: who is primary, how far each standby trails it, what looks wrong. */
export function summarizeCluster(cluster: string, outcomes: NodeOutcome[], maxLagBytes?: number, now = new Date()): ClusterStatus {
  const nodes: NodeStatus[] = outcomes.map(({ node, probe, error }) =>
    probe
      ? { node: node.name, taskQueue: node.taskQueue, reachable: true, probe }
      : { node: node.name, taskQueue: node.taskQueue, reachable: false, error },
  );
  const warnings: string[] = [];
  const primaries = nodes.filter((n) => n.probe?.role === 'primary');
  if (primaries.length === 0) warnings.push('no reachable primary');
  if (primaries.length > 1) warnings.push(`more than one primary: ${primaries.map((p) => p.node).join(', ')} (split brain?)`);
  const primary = primaries.length === 1 ? primaries[0]! : undefined;
  for (const n of nodes) {
    if (!n.reachable) warnings.push(`node ${n.node} unreachable: ${n.error}`);
    const p = n.probe;
    if (!p || p.role !== 'standby') continue;
    if (primary?.probe?.currentLsn && p.replayLsn) n.lagBytes = Math.max(0, lsnDiff(primary.probe.currentLsn, p.replayLsn));
    n.lagSeconds = primary?.probe ? replayLagSeconds(replicationPeerOf(primary.probe, p)) : null;
    if (primary?.probe && p.timeline !== primary.probe.timeline)
      warnings.push(`standby ${n.node} is on timeline ${p.timeline}, primary ${primary.node} on ${primary.probe.timeline}`);
    if (p.walReceiver?.status !== 'streaming')
      warnings.push(`standby ${n.node} is not streaming (wal receiver: ${p.walReceiver?.status ?? 'none'})`);
    if (p.replayPaused) warnings.push(`standby ${n.node} has replay paused`);
    if (maxLagBytes !== undefined && (n.lagBytes ?? 0) > maxLagBytes)
      warnings.push(`standby ${n.node} lags ${n.lagBytes} bytes, above ${maxLagBytes}`);
  }
  const sysIds = new Set(nodes.flatMap((n) => (n.probe ? [n.probe.systemIdentifier] : [])));
  if (sysIds.size > 1) warnings.push(`nodes report different system identifiers: ${[...sysIds].join(', ')}`);
  return { cluster, primary: primary?.node ?? null, nodes, warnings, checkedAt: now.toISOString() };
}
