import { describe, expect, it } from 'vitest';
import { summarizeCluster, type NodeProbe, type ReplicationPeer } from '../../domain/status.js';
import { renderStatus } from '../../cli/commands/status.js';

const archiver = { archivedCount: 0, lastArchivedWal: null, lastArchivedAt: null, failedCount: 0, lastFailedWal: null, lastFailedAt: null };
const probe = (node: string, role: 'primary' | 'standby', over: Partial<NodeProbe> = {}): NodeProbe => ({
  node,
  role,
  systemIdentifier: '1',
  serverVersion: 160000,
  timeline: 1,
  currentLsn: role === 'primary' ? '0/5000000' : null,
  receiveLsn: null,
  replayLsn: role === 'standby' ? '0/5000000' : null,
  // An hour since the last replayed commit: what now() - pg_last_xact_replay_timestamp() shows on an idle primary.
  replayDelaySeconds: role === 'standby' ? 3600 : null,
  replayPaused: role === 'standby' ? false : null,
  synchronousStandbyNames: '',
  dataChecksums: true,
  archiveMode: 'on',
  archiver,
  replication: [],
  walReceiver: role === 'standby' ? { status: 'streaming', senderHost: null, senderPort: null, slotName: null, receivedTimeline: 1 } : null,
  probedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});
const peer = (over: Partial<ReplicationPeer>): ReplicationPeer => ({
  applicationName: 'walreceiver',
  clientAddr: null,
  state: 'streaming',
  syncState: 'async',
  sentLsn: null,
  replayLsn: null,
  replayLagBytes: 0,
  replayLagSeconds: null,
  slotName: null,
  ...over,
});
const receiverOn = (slotName: string | null) => ({
  status: 'streaming',
  senderHost: null,
  senderPort: null,
  slotName,
  receivedTimeline: 1,
});
const node = (name: string) => ({ name, taskQueue: `q-${name}` });

describe("a standby's lag in seconds", () => {
  const primary = probe('a', 'primary', {
    replication: [
      peer({ slotName: 'slot_b', replayLagSeconds: 0.25, replayLagBytes: 4096 }),
      peer({ slotName: 'slot_c', replayLagSeconds: null, replayLagBytes: 0 }),
      peer({ applicationName: 'e', replayLagSeconds: 1.5, replayLagBytes: 100 }),
      peer({ slotName: 'slot_f', replayLagSeconds: null, replayLagBytes: 8192 }),
    ],
  });
  const s = summarizeCluster('c1', [
    { node: node('a'), probe: primary },
    { node: node('b'), probe: probe('b', 'standby', { walReceiver: receiverOn('slot_b') }) },
    { node: node('c'), probe: probe('c', 'standby', { walReceiver: receiverOn('slot_c') }) },
    { node: node('d'), probe: probe('d', 'standby', { walReceiver: receiverOn('slot_d') }) },
    { node: node('e'), probe: probe('e', 'standby') },
    { node: node('f'), probe: probe('f', 'standby', { walReceiver: receiverOn('slot_f') }) },
  ]);
  const lag = (n: string) => s.nodes.find((x) => x.node === n)!.lagSeconds;

  it("is the primary's replay_lag for the standby's slot, not the time since its last replayed commit", () => {
    expect(lag('b')).toBe(0.25);
  });

  it('is 0 for a streaming standby that replayed everything (the primary shows NULL once idle)', () => {
    expect(lag('c')).toBe(0);
  });

  it('is found by application_name when the standby streams without a slot', () => {
    expect(lag('e')).toBe(1.5);
  });

  it('is null when the primary does not list the standby, or listed it but measured nothing while it trails', () => {
    expect(lag('d')).toBeNull();
    expect(lag('f')).toBeNull();
  });

  it('is null without a reachable primary', () => {
    const alone = summarizeCluster('c1', [{ node: node('b'), probe: probe('b', 'standby', { walReceiver: receiverOn('slot_b') }) }]);
    expect(alone.nodes[0]!.lagSeconds).toBeNull();
  });

  it('shows in pgdr status as seconds, "not streaming" for a standby the primary does not list, "?" when not measured', () => {
    const out = renderStatus({ ...s, workflowId: 'w', uiUrl: 'http://ui' }, Date.parse('2026-01-01T00:00:00Z'));
    expect(out).toContain('LAG (bytes / replay_lag)');
    const row = (n: string) => out.split('\n').find((l) => l.startsWith(`${n} `))!;
    expect(row('b')).toMatch(/\s0 B \/ 0\.3s\s/);
    expect(row('c')).toMatch(/\s0 B \/ 0\.0s\s/);
    expect(row('d')).toMatch(/\s0 B \/ not streaming\s/);
    expect(row('f')).toMatch(/\s0 B \/ \?\s/);
    expect(out).not.toContain('3600');
  });
});
