/** The OpenAPI 3.1 document, generated from the route table: parameters, bodies and every answer's schema. */
import { z } from 'zod';
import { bodyResponses, errorBody, type Responses, type RouteDef } from './routeTable.js';

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  // The shared error envelope is a component; every other schema is inline.
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema;
  return out;
}

const errorRef = { $ref: '#/components/schemas/Error' };
const mediaType = (contentType: string | undefined) => (contentType ?? 'application/json').split(';')[0]!;

/** The document's path for a route: :name becomes {name}, and * the route's wildcard name. */
export function openApiPath(r: Pick<RouteDef, 'path' | 'wildcard'>): string {
  return r.path.replace(/:([A-Za-z]+)/g, '{$1}').replace('*', `{${r.wildcard ?? 'path'}}`);
}

export interface OpenApiServer {
  url: string;
  description?: string;
  variables?: Record<string, { default: string; description?: string; enum?: string[] }>;
}

/**
 * The document. servers: where clients send requests (the API serves it with the address it is
 * configured to listen on).
 */
export interface OpenApiDocument {
  openapi: '3.1.0';
  paths: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

export function openApiDocument(
  routes: RouteDef<never, never, never, never>[] | RouteDef[],
  version: string,
  servers: OpenApiServer[],
): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes as RouteDef[]) {
    const path = openApiPath(r);
    const params = r.params ? (jsonSchema(r.params, 'input') as { properties?: Record<string, JsonSchema> }) : undefined;
    const query = r.query ? (jsonSchema(r.query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] }) : undefined;
    const described = (schema: JsonSchema) => {
      const { description, ...rest } = schema;
      return { ...(typeof description === 'string' ? { description } : {}), schema: rest };
    };
    const parameters = [
      ...Object.entries(params?.properties ?? {}).map(([name, schema]) => {
        return { name: name === '*' ? (r.wildcard ?? 'path') : name, in: 'path', required: true, ...described(schema) };
      }),
      ...Object.entries(query?.properties ?? {}).map(([name, schema]) => {
        return { name, in: 'query', required: query?.required?.includes(name) ?? false, ...described(schema) };
      }),
    ];
    const declared: Responses = r.body ? { ...bodyResponses, ...r.responses } : r.responses;
    const responses = Object.fromEntries(
      Object.entries(declared).map(([code, spec]) => {
        if (typeof spec === 'string') return [code, { description: spec, content: { 'application/json': { schema: errorRef } } }];
        return [
          code,
          { description: spec.description, content: { [mediaType(spec.contentType)]: { schema: jsonSchema(spec.body, 'output') } } },
        ];
      }),
    );
    paths[path] ??= {};
    paths[path]![r.method.toLowerCase()] = {
      operationId: r.operationId,
      summary: r.summary,
      security: r.auth === false ? [] : [{ bearer: [] }],
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'pgdr API',
      version,
      description: 'PostgreSQL backup and disaster recovery on Temporal. Every route except /healthz needs the bearer token.',
    },
    servers,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the token named by api.token in pgdr.yaml' } },
      schemas: { Error: jsonSchema(errorBody, 'output') },
    },
    paths,
  };
}

/** The server entry for an API listening on host:port (a wildcard listen address is reached on localhost). */
export function configuredServer(host: string, port: number): OpenApiServer {
  const reach = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: 'http://{host}:{port}',
    description: 'the pgdr API as configured (api.host and api.port in pgdr.yaml)',
    variables: {
      host: { default: reach, description: 'host the API is reached on' },
      port: { default: String(port), description: 'api.port' },
    },
  };
}
