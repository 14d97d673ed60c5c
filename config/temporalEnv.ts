/**
 * Temporal's client environment variables (the names of Temporal's env-config, as the CLI and
 * SDKs read them) laid over pgdr.yaml's `temporal` section. An environment variable that is set
 * (and not empty) wins over the file, field by field, as in Temporal's own precedence; what
 * neither sets takes the schema's default. Secrets stay references: TEMPORAL_API_KEY becomes
 * `apiKey: {env: TEMPORAL_API_KEY}`, a *_PATH a `{file}` and a *_DATA an `{env}`, all read at
 * connect time. TOML profiles (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) are not read.
 */

/** One env-config variable and the pgdr.yaml field it sets. */
interface EnvField {
  name: string;
  field: string[];
  value: (v: string, name: string) => unknown;
}

const text = (v: string) => v;
const file = (v: string) => ({ file: v });
const envRef = (_v: string, name: string) => ({ env: name });
const bool = (v: string) => (v === 'true' ? true : v === 'false' ? false : v);

/** Every variable pgdr reads, in Temporal's spelling. */
export const TEMPORAL_ENV_FIELDS: readonly EnvField[] = [
  { name: 'TEMPORAL_ADDRESS', field: ['address'], value: text },
  { name: 'TEMPORAL_NAMESPACE', field: ['namespace'], value: text },
  { name: 'TEMPORAL_API_KEY', field: ['apiKey'], value: envRef },
  { name: 'TEMPORAL_TLS', field: ['tls', 'enabled'], value: bool },
  { name: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', field: ['tls', 'serverCaFile'], value: text },
  { name: 'TEMPORAL_TLS_SERVER_NAME', field: ['tls', 'serverName'], value: text },
  { name: 'TEMPORAL_TLS_CLIENT_CERT_PATH', field: ['tls', 'clientCert'], value: file },
  { name: 'TEMPORAL_TLS_CLIENT_CERT_DATA', field: ['tls', 'clientCert'], value: envRef },
  { name: 'TEMPORAL_TLS_CLIENT_KEY_PATH', field: ['tls', 'clientKey'], value: file },
  { name: 'TEMPORAL_TLS_CLIENT_KEY_DATA', field: ['tls', 'clientKey'], value: envRef },
];

/** Env-config variables pgdr cannot honour: set, they are a config error rather than silently ignored. */
const UNSUPPORTED: Record<string, (v: string) => string | undefined> = {
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: () => 'expected the CA as a file: set TEMPORAL_TLS_SERVER_CA_CERT_PATH instead',
  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: (v) =>
    v === 'false' ? undefined : 'expected false: pgdr always verifies the server (set TEMPORAL_TLS_SERVER_NAME for a name of its own)',
};

export interface TemporalEnvOverlay {
  /** The raw config with the environment laid over its `temporal` section (the input is not changed). */
  raw: unknown;
  /** Field path (dotted, from the root) -> the variable that set it, for error messages. */
  fromEnv: Map<string, string>;
  /** Problems no schema can see (both _PATH and _DATA set, an unsupported variable). */
  issues: { field: string; message: string }[];
}

export function overlayTemporalEnv(raw: unknown, env: NodeJS.ProcessEnv): TemporalEnvOverlay {
  const fromEnv = new Map<string, string>();
  const issues: { field: string; message: string }[] = [];
  const set = TEMPORAL_ENV_FIELDS.filter((f) => env[f.name]);
  for (const [name, problem] of Object.entries(UNSUPPORTED)) {
    const message = env[name] ? problem(env[name]) : undefined;
    if (message) issues.push({ field: name, message: name.endsWith('_DATA') ? message : `${message} (got ${JSON.stringify(env[name])})` });
  }
  if (set.length === 0 || raw === null || typeof raw !== 'object') return { raw, fromEnv, issues };
  const root = { ...(raw as Record<string, unknown>) };
  const temporal = { ...((root.temporal as Record<string, unknown> | undefined) ?? {}) };
  root.temporal = temporal;
  for (const f of set) {
    const key = `temporal.${f.field.join('.')}`;
    const earlier = fromEnv.get(key);
    if (earlier) {
      issues.push({ field: f.name, message: `expected one of ${earlier} and ${f.name}, got both` });
      continue;
    }
    let target = temporal;
    for (const k of f.field.slice(0, -1)) {
      const inner = target[k];
      target = target[k] = { ...(inner && typeof inner === 'object' ? (inner as Record<string, unknown>) : {}) };
    }
    target[f.field.at(-1)!] = f.value(env[f.name]!, f.name);
    fromEnv.set(key, f.name);
  }
  return { raw: root, fromEnv, issues };
}
