/**
 * backup (workflows/backup.ts) against stub node agents: the basebackup method probes the nodes
 * while its cluster lock starts, so the streaming activity confirms the chosen node's role before
 * it stores anything, and a role that changed in between (a switchover that held the lock and
 * ended) is judged again from probes made inside the lock.
 */
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { backupInput } from '../../control/inputs.js';
import type { backup } from '../../workflows/backup.js';
import { unlessRefused } from '../../workflows/lock.js';
import { useFastEnv } from './helpers/env.js';
import type { FakeCluster } from './helpers/fakeCluster.js';
import { failureOf } from './helpers/outcome.js';

const env = useFastEnv();

/** What the streaming activity returns for a stored backup. */
const STREAMED = {
  objectName: 'base.tar.zst',
  bytes: 1000,
  sha256: 'ab'.repeat(32),
  startLsn: '0/2000028',
  stopLsn: '0/2000100',
  timeline: 1,
  startTime: '2026-01-01T00:00:00.000Z',
  stopTime: '2026-01-01T00:00:10.000Z',
  compression: 'zstd',
};

/** a is the primary, b a standby; the stream and the manifest are stubbed. */
async function cluster(): Promise<FakeCluster> {
  const fc = await env.cluster({ nodes: ['a', 'b'] });
  fc.on('uploadBaseBackup', () => STREAMED).on('writeManifest', () => undefined);
  return fc;
}

function start(fc: FakeCluster) {
  return fc.start<typeof backup>('backup', [{ ...backupInput(fc.config, fc.name, 'full', 'fast-test'), verify: false, expire: false }]);
}

/** The streaming activity's refusal when the node is not the role it was chosen for. */
function roleChanged(node: string): never {
  throw ApplicationFailure.nonRetryable(`node "${node}" is a standby now, not the primary the backup chose`, 'BackupSourceChangedError');
}

describe('backup with stub agents: choosing the source node', () => {
  it('streams from the primary that the probes beside the lock found, which confirms its role first', async () => {
    const fc = await cluster();
    const { manifest } = unlessRefused(await (await start(fc)).result());
    expect(manifest).toMatchObject({ sourceNode: 'a', status: 'good' });
    expect(
      fc
        .callsOf('probeNode')
        .map((c) => c.where)
        .sort(),
    ).toEqual(['a', 'b']);
    expect(fc.callsOf('uploadBaseBackup').map((c) => [c.where, c.input.expectRole])).toEqual([['a', 'primary']]);
    expect(fc.trace('uploadBaseBackup', 'writeManifest')).toEqual(['a uploadBaseBackup', 'control writeManifest']);
  });

  it('probes again inside the lock when the chosen node changed role before streaming, and streams from the new primary', async () => {
    const fc = await cluster();
    fc.on('uploadBaseBackup', (_i, c) => {
      if (c.where !== 'a') return STREAMED;
      // A switchover ended between the probes and the lock: b is the primary now.
      fc.nodes.get('a')!.role = 'standby';
      fc.nodes.get('b')!.role = 'primary';
      return roleChanged('a');
    });
    const { manifest } = unlessRefused(await (await start(fc)).result());
    expect(manifest.sourceNode).toBe('b');
    expect(fc.callsOf('uploadBaseBackup').map((c) => [c.where, c.input.expectRole, c.input.backupId])).toEqual([
      ['a', 'primary', manifest.id],
      ['b', 'primary', manifest.id],
    ]);
    // Both nodes probed twice: beside the lock, then inside it.
    expect(fc.callsOf('probeNode').length).toBe(4);
    expect(await fc.lockRelease()).toBe('released');
  });

  it('probes again inside the lock when the probes beside it found no primary (a switchover between demote and promote)', async () => {
    const fc = await cluster();
    fc.nodes.get('a')!.role = 'standby';
    let probes = 0;
    fc.on('probeNode', (_i, c) => {
      const seen = fc.probe(c.where);
      // Both first probes see two standbys; the promotion lands before the lock is ours.
      if (++probes === 2) fc.nodes.get('a')!.role = 'primary';
      return seen;
    });
    const { manifest } = unlessRefused(await (await start(fc)).result());
    expect(manifest.sourceNode).toBe('a');
    expect(probes).toBe(4);
    expect(fc.callsOf('uploadBaseBackup').map((c) => c.where)).toEqual(['a']);
  });

  it('fails NO_BACKUP_SOURCE naming every node when the probes inside the lock find no primary either, storing nothing', async () => {
    const fc = await cluster();
    fc.nodes.get('a')!.role = 'standby';
    const failure = await failureOf(await start(fc));
    expect(failure.type).toBe('NoBackupSourceError');
    expect(failure.message).toContain(`no primary to back up cluster "${fc.name}" from: a=standby, b=standby`);
    expect(fc.callsOf('probeNode').length).toBe(4);
    expect(fc.callsOf('uploadBaseBackup')).toEqual([]);
    expect(fc.callsOf('writeManifest')).toEqual([]);
    expect(await fc.lockRelease()).toBe('released');
  });
});
