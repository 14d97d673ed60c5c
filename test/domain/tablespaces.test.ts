import { describe, expect, it } from 'vitest';
import {
  judgeLaterTablespaces,
  judgeTablespaceDirs,
  mapTablespaces,
  parseTablespaceMapOptions,
  tablespaceMapText,
  tablespaceObjectName,
  type BackupTablespace,
  type TablespaceDirFacts,
} from '../../domain/tablespaces.js';

const spaces: BackupTablespace[] = [
  { oid: 16384, name: 'hot', location: '/srv/ts/hot' },
  { oid: 16390, name: 'cold', location: '/srv/ts/cold' },
];

describe('tablespace mapping', () => {
  it('puts each tablespace in <dataDir>_tblspc/<oid> unless the request maps it by name or OID', () => {
    const { mapping, problems } = mapTablespaces(spaces, { '16390': '/restores/cold' }, '/restores/c-1/', 'b1');
    expect(problems).toEqual([]);
    expect(mapping).toEqual([
      { oid: 16384, name: 'hot', from: '/srv/ts/hot', to: '/restores/c-1_tblspc/16384', explicit: false },
      { oid: 16390, name: 'cold', from: '/srv/ts/cold', to: '/restores/cold', explicit: true },
    ]);
  });

  it('refuses a name the backup lacks, a bad path, one tablespace named twice, a shared or nested directory, and one inside the data directory', () => {
    expect(mapTablespaces(spaces, { warm: '/r/w' }, '/r/d', 'b1').problems).toEqual([
      'tablespaceMap names tablespace "warm", which backup b1 does not have; expected one of hot (oid 16384), cold (oid 16390)',
    ]);
    expect(mapTablespaces(spaces, { hot: 'rel/x' }, '/r/d', 'b1').problems[0]).toMatch(
      /^tablespaceMap\["hot"\] "rel\/x": expected an absolute path/,
    );
    expect(mapTablespaces(spaces, { hot: '/r/a', '16384': '/r/b' }, '/r/d', 'b1').problems).toContain(
      'tablespaceMap names tablespace hot (oid 16384) twice: as "16384" and "hot"',
    );
    expect(mapTablespaces(spaces, { hot: '/r/a', cold: '/r/a/b' }, '/r/d', 'b1').problems).toEqual([
      'tablespaces hot (oid 16384) and cold (oid 16390) would share /r/a; expected a directory of its own for each',
    ]);
    expect(mapTablespaces(spaces, { hot: '/r/d/ts' }, '/r/d', 'b1').problems).toEqual([
      'tablespace hot (oid 16384) would go to /r/d/ts, which lies inside the destination data directory /r/d; expected a directory apart from it',
    ]);
    expect(mapTablespaces([], { hot: '/r/a' }, '/r/d', 'b1').problems[0]).toContain('(none: the backup has no user tablespace)');
  });

  it('refuses a live directory, one outside the roots and one holding files, naming tablespace and path', () => {
    const { mapping } = mapTablespaces(spaces, { hot: '/srv/ts/hot', cold: '/elsewhere/cold' }, '/r/d', 'b1');
    const facts: TablespaceDirFacts[] = [
      {
        path: '/srv/ts/hot',
        canonical: '/srv/ts/hot',
        state: 'files',
        withinRoots: false,
        liveOverlaps: [{ cluster: 'c', node: 'pg1', kind: 'tablespace', path: '/srv/ts/hot', relation: 'is' }],
      },
      { path: '/elsewhere/cold', canonical: '/elsewhere/cold', state: 'files', withinRoots: false, liveOverlaps: [] },
    ];
    expect(judgeTablespaceDirs(mapping, facts, { node: 'pg1', cluster: 'c', roots: ['/r'], inPlace: false })).toEqual([
      `tablespace hot (oid 16384) mapped to pg1:/srv/ts/hot is node pg1's tablespace directory /srv/ts/hot, which a running server owns; expected a directory apart from every configured node's data, WAL and tablespace directories (tablespaceMap: {"hot": "/path"})`,
      "tablespace cold (oid 16390) mapped to pg1:/elsewhere/cold is outside pgdr's restore roots /r; expected a directory inside one of them (restore.dir, restore.allowedRoots)",
      'tablespace cold (oid 16390) mapped to pg1:/elsewhere/cold is not empty; expected an empty or absent directory',
    ]);
    // In place, beside the node's data directory like it: no roots needed, a live directory still refused.
    expect(judgeTablespaceDirs(mapping, facts, { node: 'pg1', cluster: 'c', roots: ['/r'], inPlace: true })).toHaveLength(2);
  });

  it('refuses replaying past a tablespace the backup lacks that lives on the host, unless the target is immediate', () => {
    const live = [
      { node: 'pg1', oid: 16384, path: '/srv/ts/hot' },
      { node: 'pg1', oid: 16400, path: '/srv/ts/new' },
    ];
    expect(judgeLaterTablespaces({ id: 'b1', tablespaces: spaces }, live, { node: 'pg1', immediate: false })).toEqual([
      "tablespace oid 16400 (node pg1's /srv/ts/new) was created after backup b1: replaying its creation would write into /srv/ts/new on pg1, the live tablespace directory; expected a backup taken after it was created (take one), a destination on another host, or target immediate",
    ]);
    expect(judgeLaterTablespaces({ id: 'b1', tablespaces: spaces }, live, { node: 'pg1', immediate: true })).toEqual([]);
  });

  it('writes tablespace_map, names archives like base.tar, and parses --tablespace-map options', () => {
    expect(
      tablespaceMapText([
        { oid: 1, to: '/a' },
        { oid: 2, to: '/b' },
      ]),
    ).toBe('1 /a\n2 /b\n');
    expect(tablespaceObjectName(16384, 'base.tar.zst')).toBe('16384.tar.zst');
    expect(tablespaceObjectName(16384, 'base.tar')).toBe('16384.tar');
    expect(parseTablespaceMapOptions(['hot=/r/h', '16390=/r/c=x'])).toEqual({ hot: '/r/h', '16390': '/r/c=x' });
    expect(() => parseTablespaceMapOptions(['hot'])).toThrow('--tablespace-map "hot": expected name=/path or oid=/path');
    expect(() => parseTablespaceMapOptions(['a=/x', 'a=/y'])).toThrow('--tablespace-map names "a" twice');
  });
});
