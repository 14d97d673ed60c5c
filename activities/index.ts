/**
 * The activity factory. `createActivities(deps)` builds every activity pgdr has, so tests can
 * inject their own dependencies. Each activity is wrapped so that a PgdrError leaves as an
 * ApplicationFailure with the class name as its type (see common/errors.ts).
 *
 * Node-bound activities (`probeNode`, and later pg_ctl/data-dir work) are registered on each
 * node's agent queue; the rest on the control queue. The same object serves both.
 */
import { toApplicationFailure } from '../common/errors.js';
import type { NodeProbe } from '../common/status.js';
import type { PgdrConfig } from '../config/schema.js';
import { probeNode } from './postgres.js';
import { createSecretReader, type SecretReader } from './secrets.js';

export interface ActivityDeps {
  config: PgdrConfig;
  readSecret?: SecretReader;
}

export function createActivities(deps: ActivityDeps) {
  const d = { config: deps.config, readSecret: deps.readSecret ?? createSecretReader() };
  return mapErrors({
    /** Node agent: role, timeline, LSNs, archiver and replication figures of this node. */
    async probeNode(input: { cluster: string; node: string }): Promise<NodeProbe> {
      return probeNode(d, input.cluster, input.node);
    },
  });
}

export type Activities = ReturnType<typeof createActivities>;

type AnyFn = (...args: never[]) => Promise<unknown>;

function mapErrors<T extends Record<string, AnyFn>>(activities: T): T {
  const wrapped: Record<string, AnyFn> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toApplicationFailure(err);
      }
    };
  }
  return wrapped as T;
}
