/**
 * pgdr's ground on a host: canonical spellings (symlinks, trailing "/", directories not yet
 * made) and the live directories of the nodes on the same host, on a real filesystem.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalPath, overlapsWithLive } from '../../adapters/hostPaths.js';
import type { PgdrConfig } from '../../config/schema.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'pgdr-ground-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const node = (host: string, dataDir: string) => ({ host, port: 5432, dataDir });
const config = (nodes: Record<string, ReturnType<typeof node>>) => ({ clusters: { c1: { nodes } } }) as unknown as PgdrConfig;

describe('host paths', () => {
  it('spells a path as the host resolves it: through symlinks, without a trailing slash, with the missing rest appended', () => {
    mkdirSync(join(root, 'real', 'pg'), { recursive: true });
    symlinkSync(join(root, 'real'), join(root, 'link'));
    expect(canonicalPath(join(root, 'link', 'pg') + '/')).toBe(join(root, 'real', 'pg'));
    expect(canonicalPath(join(root, 'link', 'not', 'yet'))).toBe(join(root, 'real', 'not', 'yet'));
  });

  it("finds a node's pg_wal and tablespace targets, and the directories that contain or lie inside them", () => {
    const data = join(root, 'n1');
    mkdirSync(join(data, 'pg_tblspc'), { recursive: true });
    mkdirSync(join(root, 'wal1'));
    mkdirSync(join(root, 'ts1'));
    symlinkSync(join(root, 'wal1'), join(data, 'pg_wal'));
    symlinkSync(join(root, 'ts1'), join(data, 'pg_tblspc', '16384'));
    const c = config({ n1: node('10.0.0.1', data) });
    expect(overlapsWithLive(c, join(root, 'ts1', 'x'))).toEqual([
      { cluster: 'c1', node: 'n1', kind: 'tablespace', path: join(root, 'ts1'), relation: 'inside' },
    ]);
    expect(overlapsWithLive(c, join(root, 'wal1'))).toEqual([
      { cluster: 'c1', node: 'n1', kind: 'wal', path: join(root, 'wal1'), relation: 'is' },
    ]);
    expect(
      overlapsWithLive(c, root)
        .map((o) => o.kind)
        .sort(),
    ).toEqual(['data', 'tablespace', 'wal']);
    expect(overlapsWithLive(c, join(root, 'elsewhere'))).toEqual([]);
  });

  it("counts only the nodes on the destination node's host: two machines may use one path", () => {
    const shared = join(root, 'main');
    const c = config({ primary: node('10.0.0.1', shared), replica: node('10.0.0.2', shared) });
    expect(overlapsWithLive(c, shared, { cluster: 'c1', node: 'replica' })).toEqual([
      { cluster: 'c1', node: 'replica', kind: 'data', path: shared, relation: 'is' },
    ]);
    expect(overlapsWithLive(c, shared).map((o) => o.node)).toEqual(['primary', 'replica']);
  });
});
