/** The OpenAPI 3.1 document, generated from the route table. */
import { z } from 'zod';
import type { RouteDef } from './routeTable.js';

function jsonSchema(schema: z.ZodType | undefined): Record<string, unknown> | undefined {
  return schema ? (z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>) : undefined;
}

export function openApiDocument(routes: RouteDef<never, never, never>[] | RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes as RouteDef[]) {
    const path = r.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const params = jsonSchema(r.params) as { properties?: Record<string, unknown> } | undefined;
    const query = jsonSchema(r.query) as { properties?: Record<string, unknown>; required?: string[] } | undefined;
    const parameters = [
      ...Object.entries(params?.properties ?? {}).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
      ...Object.entries(query?.properties ?? {}).map(([name, schema]) => ({ name, in: 'query', required: query?.required?.includes(name) ?? false, schema })),
    ];
    paths[path] ??= {};
    paths[path]![r.method.toLowerCase()] = {
      summary: r.summary,
      security: r.auth === false ? [] : [{ bearer: [] }],
      parameters,
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses: Object.fromEntries(Object.entries(r.responses).map(([code, description]) => [code, { description }])),
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'pgdr API', version, description: 'PostgreSQL backup and disaster recovery on Temporal' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
