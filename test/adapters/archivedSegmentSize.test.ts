/**
 * archivedSegmentSize (the WAL check's size judge) on real storage, when the check's index names
 * a newest segment that was deleted since: the next newest tells the size, and with none left
 * the answer is "unknown", never a HEAD that fails the check's activity on every retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testCluster, type TestCluster } from '../helpers/cluster.js';
import { createS3Client } from '../../adapters/storage.js';
import { createSecretReader } from '../../adapters/secrets.js';
import { archivedSegmentSize, listArchivedWal, pushWal } from '../../adapters/walStore.js';
import { walFolder } from '../../adapters/catalogStore.js';

describe('archivedSegmentSize', () => {
  let tc: TestCluster;
  let dir: string;
  const deps = () => ({ config: tc.config, s3: createS3Client(tc.config.storage, createSecretReader()) });

  beforeAll(async () => {
    tc = testCluster('segsize');
    dir = mkdtempSync(join(tmpdir(), 'pgdr-segsize-'));
    for (const name of ['000000010000000000000001', '000000010000000000000002']) {
      writeFileSync(join(dir, name), Buffer.alloc(1024 * 1024, 1));
      await pushWal(deps(), tc.name, join(dir, name));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the size from the newest segment that still exists, and says unknown when none does', async () => {
    const archived = await listArchivedWal(deps(), tc.name);
    expect(await archivedSegmentSize(deps(), tc.name, archived, { decompress: false })).toEqual({
      name: '000000010000000000000002',
      bytes: 1024 * 1024,
    });
    // The index still names a newer segment that is gone from storage.
    const gone = {
      name: '000000010000000000000003',
      key: `${walFolder(tc.config.storage, tc.name)}000000010000000000000003.zst`,
      bytes: 99,
      lastModified: null,
    };
    expect(await archivedSegmentSize(deps(), tc.name, [...archived, gone], { decompress: false })).toEqual({
      name: '000000010000000000000002',
      bytes: 1024 * 1024,
    });
    expect(await archivedSegmentSize(deps(), tc.name, [gone], { decompress: false })).toBeNull();
  });
});
