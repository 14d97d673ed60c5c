import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackLayout } from '../../scripts/stack/layout.js';
import { stackUp, stackStatus } from '../../scripts/stack/main.js';

describe('dev stack', () => {
  it('starting it twice does no harm: same processes, same cluster, same secrets', async () => {
    const layout = stackLayout({ PGDR_STACK_DIR: inject('stackDir'), PGDR_PORT_OFFSET: inject('portOffset') });
    const pids = () =>
      ['temporal', 'minio', 'minio-secondary', 'worker', 'api'].map((p) => readFileSync(join(layout.run, `${p}.pid`), 'utf8'));
    const sysId = () => readFileSync(join(layout.dir, 'pg/demo/primary/postmaster.pid'), 'utf8').split('\n')[0];
    const token = () => readFileSync(join(layout.secrets, 'api-token'), 'utf8');
    const before = { pids: pids(), pg: sysId(), token: token() };
    await stackUp(layout, { apps: true });
    expect({ pids: pids(), pg: sysId(), token: token() }).toEqual(before);
    expect(Object.values(await stackStatus(layout)).every(Boolean)).toBe(true);
  });

  it('rejects a port offset that is not a whole number in range, naming the variable', () => {
    expect(() => stackLayout({ PGDR_PORT_OFFSET: 'ten' })).toThrow('PGDR_PORT_OFFSET is "ten": expected an integer from 0 to 10102');
    expect(() => stackLayout({ PGDR_PORT_OFFSET: '20000' })).toThrow('PGDR_PORT_OFFSET is "20000": expected an integer from 0 to 10102');
    expect(stackLayout({ PGDR_PORT_OFFSET: '10102' }).ports.pg.replica).toBe(65535);
  });
});
