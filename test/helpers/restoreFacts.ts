/**
 * Facts for the pure restore judges' tests: a good full backup, and a destination that is free on
 * every count (absent, inside the roots, its port free, touching no live directory). Tests spread
 * and override them.
 */
import type { DestinationFacts, RestorableBackup } from '../../domain/restore.js';

export const freeDestination: DestinationFacts = {
  node: 'n1',
  dataDir: '/r/x',
  port: 55432,
  state: 'absent',
  running: false,
  portFree: true,
  canonicalDir: '/r/x',
  host: 'h1',
  liveOverlaps: [],
  withinRoots: true,
  roots: ['/r'],
  standby: false,
};

/** A good full basebackup that stopped at `stopLsn` and `stopTime`, its WAL starting at `startSeg`. */
export function goodBackup(id: string, stopTime: string, stopLsn: string, startSeg: string, timeline = 1): RestorableBackup {
  return {
    id,
    method: 'basebackup',
    type: 'full',
    timeline,
    startLsn: stopLsn,
    stopLsn,
    startWalSegment: startSeg,
    stopTime,
    compression: 'zstd',
    bytes: 1,
    objects: [{ name: 'base.tar.zst', bytes: 1, sha256: 'x' }],
  };
}
