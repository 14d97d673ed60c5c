/** Shapes of the clusterStatus procedure, shared by activities, workflow, API and CLI. */

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
  timeline: number;
  /** pg_current_wal_lsn() on a primary; null on a standby. */
  currentLsn: string | null;
  receiveLsn: string | null;
  replayLsn: string | null;
  /** Seconds since the last replayed transaction's commit; null on a primary. */
  replayDelaySeconds: number | null;
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
}

export interface ClusterStatus {
  cluster: string;
  primary: string | null;
  nodes: NodeStatus[];
  /** Problems a DBA should look at, in plain words (empty when healthy). */
  warnings: string[];
  checkedAt: string;
}
