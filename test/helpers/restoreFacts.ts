/**
 * Facts for the pure restore judges' tests: a destination that is free on every count (absent,
 * inside the roots, its port free, touching no live directory). Tests spread and override it.
 */
import type { DestinationFacts } from '../../domain/restore.js';

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
