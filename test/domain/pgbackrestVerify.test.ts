/** Reading `pgbackrest verify --verbose` at log level info: what was checked, and each damaged file by name. */
import { describe, expect, it } from 'vitest';
import { judgeVerify } from '../../adapters/pgbackrest.js';

// As pgBackRest 2.45 printed it for a repository with one damaged WAL segment (times shortened).
const damaged = `13:46:19.402 P00   INFO: verify command begin 2.45: --output=text --stanza=main --verbose
2026-12-01 13:46:34.556 P01   INFO: invalid result 15-1/0000000100000000/000000010000000000000001-8aecdd703d02c570311d1d3f6f80ea305c78c2e6.zst: [29] raised from local-1 protocol: zst error: [-20] Data corruption detected
                                    [FormatError] on retry after 0ms
2026-12-01 13:46:36.911 P00 DETAIL: archiveId: 15-1, wal start: 000000010000000000000001, wal stop: 000000010000000000000007
2026-12-01 13:46:36.911 P00   INFO: stanza: main
                                    status: error
                                      archiveId: 15-1, total WAL checked: 7, total valid WAL: 6
                                        missing: 0, checksum invalid: 0, size invalid: 0, other: 1
                                      backup: 20261201-134522F, status: valid, total files checked: 965, total valid files: 965
                                        missing: 0, checksum invalid: 0, size invalid: 0, other: 0
stanza: main
status: error
  archiveId: 15-1, total WAL checked: 7, total valid WAL: 6
    missing: 0, checksum invalid: 0, size invalid: 0, other: 1
  backup: 20261201-134522F, status: valid, total files checked: 965, total valid files: 965
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
2026-12-01 13:46:36.911 P00   INFO: verify command end: completed successfully (17513ms)`;

describe('pgbackrest verify output', () => {
  it('names each damaged file and the summary lines that are not valid, counting each checked file once', () => {
    expect(judgeVerify(damaged)).toEqual({
      ok: false,
      checked: 972,
      problems: [
        '15-1/0000000100000000/000000010000000000000001-8aecdd703d02c570311d1d3f6f80ea305c78c2e6.zst: [29] raised from local-1 protocol: zst error: [-20] Data corruption detected',
        'status: error',
        'missing: 0, checksum invalid: 0, size invalid: 0, other: 1',
      ],
    });
  });

  it('passes a repository whose every line is valid, and fails an invalid set or silence', () => {
    const good = damaged
      .split('\n')
      .filter((l) => !l.includes('invalid result') && !l.includes('[FormatError]'))
      .join('\n')
      .replaceAll('status: error', 'status: ok')
      .replaceAll('other: 1', 'other: 0')
      .replaceAll('total valid WAL: 6', 'total valid WAL: 7');
    expect(judgeVerify(good)).toEqual({ ok: true, checked: 972, problems: [] });
    expect(judgeVerify(good.replaceAll('status: valid', 'status: invalid')).problems).toEqual([
      'backup: 20261201-134522F, status: invalid, total files checked: 965, total valid files: 965',
    ]);
    expect(judgeVerify('')).toEqual({ ok: false, checked: 0, problems: [] });
  });
});
