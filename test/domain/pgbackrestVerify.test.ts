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

// pgBackRest 2.45 on a repository where one segment reads back whole but with other bytes (a flipped
// byte inside a compressed block that still decompresses) and another is cut short.
const checksumAndTruncated = `2026-12-02 05:40:32.321 P00   INFO: verify command begin 2.45: --output=text --stanza=main --verbose
2026-12-02 05:40:32.440 P01   INFO: invalid checksum '15-1/0000000100000000/000000010000000000000003-084f0d4b49ed75e46f4fa7b2973fe0a9d22a014a.gz'
2026-12-02 05:40:47.538 P01   INFO: invalid result 15-1/0000000100000000/000000010000000000000004-6d5d82b9aca09c588e27a1c417d979502d664cfa.gz: [29] raised from local-1 protocol: unexpected eof in compressed data
                                    [FormatError] on retry after 0ms
                                    [FormatError] on retry after 15000ms
2026-12-02 05:40:47.857 P00   INFO: stanza: main
                                    status: error
                                      archiveId: 15-1, total WAL checked: 4, total valid WAL: 2
                                        missing: 0, checksum invalid: 1, size invalid: 0, other: 1
                                      backup: 20261202-054022F, status: valid, total files checked: 964, total valid files: 964
                                        missing: 0, checksum invalid: 0, size invalid: 0, other: 0
stanza: main
status: error
  archiveId: 15-1, total WAL checked: 4, total valid WAL: 2
    missing: 0, checksum invalid: 1, size invalid: 0, other: 1
  backup: 20261202-054022F, status: valid, total files checked: 964, total valid files: 964
    missing: 0, checksum invalid: 0, size invalid: 0, other: 0
2026-12-02 05:40:47.857 P00   INFO: verify command end: completed successfully (15543ms)`;

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
  it('names a file whose checksum is wrong though it reads back, as well as one that cannot be read', () => {
    expect(judgeVerify(checksumAndTruncated)).toEqual({
      ok: false,
      checked: 968,
      problems: [
        '15-1/0000000100000000/000000010000000000000003-084f0d4b49ed75e46f4fa7b2973fe0a9d22a014a.gz: invalid checksum',
        '15-1/0000000100000000/000000010000000000000004-6d5d82b9aca09c588e27a1c417d979502d664cfa.gz: [29] raised from local-1 protocol: unexpected eof in compressed data',
        'status: error',
        'missing: 0, checksum invalid: 1, size invalid: 0, other: 1',
      ],
    });
  });
});
