// Prometheus metrics for the HTTP surfaces: one prom-client registry per process (or per test
// app), served as text on GET /metrics.
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';

/** A fresh registry; `defaultMetrics` adds process metrics (CPU, memory, event loop lag). */
export function createMetricsRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'viewpulse_' });
  return registry;
}

/** GET /metrics in the Prometheus text format. */
export function registerMetricsRoute(app: FastifyInstance, registry: Registry): void {
  app.get('/metrics', async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
}
