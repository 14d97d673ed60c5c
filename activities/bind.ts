/**
 * Binding step functions `(deps, input)` into activities `(input)`, generically: no table of
 * forwarders. Every activity maps a PgdrError to an ApplicationFailure whose type is the class
 * name (see domain/errors.ts). Node activities are bound to one node: the factory puts its
 * `{cluster, node}` into the input, and an input that names another node is refused.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { NodeMismatchError, RepositoryNotConfiguredError, toApplicationFailure } from '../domain/errors.js';
import { repositoryConfig } from '../config/repositories.js';
import { createS3Client } from '../adapters/storage.js';
import type { PgdrConfig } from '../config/schema.js';
import type { SecretReader } from '../adapters/secrets.js';
import type { KeptSessions } from '../adapters/keptConnection.js';
import { activityProgress } from '../adapters/progress.js';

/** What every step gets; each step declares the part it needs. */
export interface StepDeps {
  config: PgdrConfig;
  readSecret: SecretReader;
  s3: S3Client;
  /** The same deps on the secondary repository (storage.secondary), its client made on first use; absent without one. */
  secondary?: () => StepDeps;
  /** A node agent's kept sessions to its own server (probes); absent in the control worker. */
  sessions?: KeptSessions;
}

/**
 * The deps for a step's input: an input with `repository: "secondary"` (a restore, drill or
 * rebuild reading the offsite copy) gets the secondary's config and client, everything else the primary's.
 */
export function depsFor(deps: StepDeps, input: unknown): StepDeps {
  const repository = (input as { repository?: string } | undefined)?.repository;
  if (repository === undefined || repository === 'primary') return deps;
  if (repository !== 'secondary' || !deps.secondary) throw new RepositoryNotConfiguredError(repository);
  return deps.secondary();
}

/** Deps on the primary, with their secondary twin when storage.secondary is configured. */
export function stepDeps(config: PgdrConfig, readSecret: SecretReader, s3: S3Client): StepDeps {
  const secondaryConfig = config.storage.secondary ? repositoryConfig(config, 'secondary') : undefined;
  let twin: StepDeps | undefined;
  const secondary = secondaryConfig
    ? () => (twin ??= { config: secondaryConfig, readSecret, s3: createS3Client(secondaryConfig.storage, readSecret) })
    : undefined;
  return { config, readSecret, s3, ...(secondary ? { secondary } : {}) };
}

/** The node an agent is built for. */
export interface NodeBinding {
  cluster: string;
  node: string;
}

type Step = (deps: StepDeps, input: never) => Promise<unknown>;

/** A step as an activity: the deps parameter dropped. */
export type ControlBound<T> = {
  [K in keyof T]: T[K] extends (deps: never, input: infer I) => Promise<infer R> ? (input: I) => Promise<R> : never;
};

/** The input of a node step without the node it runs on (the factory supplies it). */
export type WithoutNode<I> = I extends unknown ? Omit<I, 'cluster' | 'node'> : never;

/** A node step as an activity: deps dropped, and `{cluster, node}` gone from the input (optional when nothing required is left). */
export type NodeBound<T> = {
  [K in keyof T]: T[K] extends (deps: never, input: infer I) => Promise<infer R>
    ? object extends WithoutNode<I>
      ? (input?: WithoutNode<I>) => Promise<R>
      : (input: WithoutNode<I>) => Promise<R>
    : never;
};

/** A step whose input is one field of an object: `(deps, value)` as `(deps, { [key]: value })`. */
export function field<K extends string, D, V, R>(
  key: K,
  step: (deps: D, value: V) => Promise<R>,
): (deps: D, input: { [P in K]: V }) => Promise<R> {
  return (deps, input) => step(deps, input[key]);
}

/** Control activities: each step with the deps filled in. */
export function bindControl<T extends Record<string, Step>>(deps: StepDeps, steps: T): ControlBound<T> {
  const bound = Object.entries(steps).map(([name, step]) => [name, (input: never) => step(depsFor(deps, input), input)] as const);
  return mapErrors(Object.fromEntries(bound)) as ControlBound<T>;
}

/** Node activities of one node: each step with the deps and the node filled in. */
export function bindNode<T extends Record<string, Step>>(deps: StepDeps, self: NodeBinding, steps: T): NodeBound<T> {
  const bound = Object.entries(steps).map(
    ([name, step]) => [name, (input?: object) => step(depsFor(deps, input), ownInput(name, self, input) as never)] as const,
  );
  return mapErrors(Object.fromEntries(bound)) as NodeBound<T>;
}

/**
 * The input with this agent's node in it. A task scheduled by an older workflow version names
 * its node: accepted when it is this one, refused (non-retryable, both nodes named) otherwise.
 */
export function ownInput(activity: string, self: NodeBinding, input: object | undefined): object {
  const asked = (input ?? {}) as Partial<NodeBinding>;
  const cluster = asked.cluster ?? self.cluster;
  const node = asked.node ?? self.node;
  if (cluster !== self.cluster || node !== self.node) throw new NodeMismatchError(activity, { cluster, node }, self);
  return { ...input, cluster: self.cluster, node: self.node };
}

type AnyFn = (...args: never[]) => Promise<unknown>;

function mapErrors(activities: Record<string, AnyFn>): Record<string, AnyFn> {
  const wrapped: Record<string, AnyFn> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      const { signal } = activityProgress();
      try {
        return await fn(...args);
      } catch (err) {
        // A tool killed because the activity was cancelled is a cancellation, not a failure.
        if (signal.aborted) throw signal.reason;
        throw toApplicationFailure(err);
      }
    };
  }
  return wrapped;
}
