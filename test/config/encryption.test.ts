/** The encryption section of a cluster: age recipients and identities, or pgBackRest's passphrase. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import { ConfigError } from '../../domain/errors.js';
import { encryptionMetadata, encryptionRecord, recipientFingerprint } from '../../adapters/age.js';
import { pgbackrestConf } from '../../adapters/pgbackrest.js';

// Real keys from age-keygen -y (public, so fine in a test).
const RECIPIENT = 'age1wste6gupn6022wtvukjh4w4rrwjcx8sdyjzyjd23e7kc9ygky9esr7ae6f';

const config = (cluster: Record<string, unknown>) => ({
  storage: { endpoint: 'https://127.0.0.1:9000', bucket: 'pgdr' },
  clusters: { main: { sslmode: 'disable', nodes: { a: { dataDir: '/var/lib/pg/a' } }, ...cluster } },
});

function issues(cluster: Record<string, unknown>): { field: string; message: string }[] {
  try {
    parseConfig(config(cluster), 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('config was accepted');
}

describe('encryption config', () => {
  it('is off by default: no recipients, no identities, no passphrase, no metadata', () => {
    const c = parseConfig(config({}));
    expect(c.clusters.main!.encryption).toEqual({ recipients: [], identities: [] });
    expect(encryptionRecord(c, 'main')).toBeUndefined();
    expect(encryptionMetadata(c, 'main')).toEqual({});
  });

  it('takes age recipients and identity secret refs, and records fingerprints, never a key', () => {
    const c = parseConfig(
      config({ encryption: { recipients: [RECIPIENT], identities: [{ file: '/etc/pgdr/age.key' }, { env: 'AGE_OLD' }] } }),
    );
    expect(encryptionRecord(c, 'main')).toEqual({ format: 'age', recipients: [recipientFingerprint(RECIPIENT)] });
    expect(recipientFingerprint(RECIPIENT)).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(encryptionRecord(c, 'main'))).not.toContain(RECIPIENT);
    expect(encryptionMetadata(c, 'main')).toEqual({ encryption: 'age' });
  });

  it.each([
    ['a truncated key', RECIPIENT.slice(0, -1)],
    ['an uppercase key', RECIPIENT.toUpperCase()],
    ['a key with a letter bech32 lacks ("b")', `${RECIPIENT.slice(0, -1)}b`],
    ['an ssh key', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk'],
  ])('refuses %s, naming the field, the value and the expected form', (_what, value) => {
    expect(issues({ encryption: { recipients: [value] } })).toEqual([
      {
        field: 'clusters.main.encryption.recipients.0',
        message: `expected an age public key: "age1" and 58 lowercase bech32 characters, as age-keygen -y prints it (never the AGE-SECRET-KEY-1 identity) (got "${value}")`,
      },
    ]);
  });

  it('refuses an identity pasted in place of a recipient without echoing it', () => {
    const secret = 'AGE-SECRET-KEY-1JENAXRC5WR90PDA2LTFFMYRUFPGA6VDZ5G34W360AJ8KHW96DH9S07KDUP';
    const [issue] = issues({ encryption: { recipients: [secret] } });
    expect(issue!.field).toBe('clusters.main.encryption.recipients.0');
    expect(issue!.message).toContain('(got "AGE-SECRET-KEY-1...")');
    expect(issue!.message).not.toContain(secret.slice(16));
  });

  it('refuses an identity given as a value instead of a secret ref', () => {
    const [issue] = issues({ encryption: { recipients: [RECIPIENT], identities: ['AGE-SECRET-KEY-1QXYZ9'] } });
    expect(issue).toMatchObject({ field: 'clusters.main.encryption.identities.0' });
    expect(issue!.message).toContain('expected a secret reference {env: NAME} or {file: /path}');
    expect(issue!.message).not.toContain('QXYZ9');
  });

  it('refuses age recipients for the pgbackrest method and a passphrase for the basebackup method', () => {
    expect(issues({ method: 'pgbackrest', encryption: { recipients: [RECIPIENT] } })).toEqual([
      {
        field: 'clusters.main.encryption.recipients',
        message: `expected no age recipients for the pgbackrest method: pgBackRest encrypts its repo itself (set encryption.passphrase) (got ["${RECIPIENT}"])`,
      },
    ]);
    expect(issues({ encryption: { passphrase: { env: 'PASS' } } })).toEqual([
      {
        field: 'clusters.main.encryption.passphrase',
        message:
          'expected no passphrase for the basebackup method: it encrypts with age (set encryption.recipients and encryption.identities) (got {"env":"PASS"})',
      },
    ]);
  });

  it('turns on aes-256-cbc in the generated pgbackrest.conf, which names no passphrase', () => {
    const c = parseConfig(config({ method: 'pgbackrest', encryption: { passphrase: { env: 'PGDR_TEST_REPO_PASS' } } }));
    const conf = pgbackrestConf(c, 'main', 'a');
    expect(conf).toContain('\nrepo1-cipher-type=aes-256-cbc\n');
    expect(conf).not.toMatch(/cipher-pass|PGDR_TEST_REPO_PASS/);
    expect(pgbackrestConf(parseConfig(config({ method: 'pgbackrest' })), 'main', 'a')).not.toContain('cipher');
  });
});
