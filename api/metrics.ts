// GET /metrics (Prometheus) on the fastify apps: the insights API and the collector. Each
// process has one registry (lib/metrics.ts createRegistry); the processors serve the same
// scrape() from runtime/start.ts.
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Registry } from 'prom-client';
import { scrape } from '../lib/metrics.js';

/** GET /metrics in the Prometheus text format; `schema` documents it in an OpenAPI document. */
export function registerMetricsRoute(app: FastifyInstance, registry: Registry, schema?: FastifySchema): void {
  app.get('/metrics', schema ? { schema } : {}, async (_request, reply) => {
    const { contentType, body } = await scrape(registry);
    return reply.type(contentType).send(body);
  });
}
