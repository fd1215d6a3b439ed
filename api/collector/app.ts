// The HTTP collector as a fastify instance that never listens: api/collector/server.ts gives it a
// Kafka producer and a port; tests give it an in-memory sink and a fake clock and call
// `app.inject()`.
//
//   POST /v1/events   ingest (events-route.ts)
//   GET  /healthz     liveness: the process answers
//   GET  /readyz      readiness: `deps.ready()` (the Kafka producer is connected and working)
//   GET  /metrics     Prometheus
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import type { Logger } from '../../lib/logger.js';
import { registerMetricsRoute } from '../metrics.js';
import { clientErrorHandler, installProblemHandlers, problem, sendProblem } from '../problem.js';
import { RecentIds } from './dedup.js';
import { registerEventsRoute, WRITE_KEY_HEADER, type EventSink } from './events-route.js';
import { collectorMetrics } from './metrics.js';
import { collectorOptions, type CollectorOptionsInput } from './options.js';
import { TokenBuckets } from '../../lib/rate-limit.js';
import { writeKeyChecker } from './write-keys.js';

export type { EventSink } from './events-route.js';

export interface CollectorDeps {
  sink: EventSink;
  writeKeys: readonly string[];
  options?: CollectorOptionsInput;
  /** The clock (epoch ms) for received_at, rate limits and deduplication age. */
  now?: () => number;
  logger?: Logger;
  metrics?: Registry;
  /** Readiness; default always ready. */
  ready?: () => boolean | Promise<boolean>;
}

export function buildCollectorApp(deps: CollectorDeps): FastifyInstance {
  if (deps.writeKeys.length === 0) throw new Error('buildCollectorApp: at least one write key is needed');
  const options = collectorOptions(deps.options);
  const now = deps.now ?? Date.now;
  const registry = deps.metrics ?? new Registry();
  const metrics = collectorMetrics(registry);

  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // One log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'req_id' }),
    genReqId: () => randomUUID(),
    bodyLimit: options.maxBodyBytes,
    requestTimeout: 30_000,
    // While closing, requests still finish through the sink (which answers 503 once closed).
    return503OnClosing: false,
    clientErrorHandler,
  }) as unknown as FastifyInstance;

  // JSON only: fastify also parses text/plain by default.
  app.removeContentTypeParser(['text/plain']);
  installProblemHandlers(app);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Browser players post cross-origin; the write key is the credential, not cookies.
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-expose-headers', 'retry-after, x-request-id');
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    request.log.info(
      { method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });

  app.options('/v1/events', async (_request, reply) =>
    reply
      .code(204)
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', `content-type, ${WRITE_KEY_HEADER}`)
      .header('access-control-max-age', '600')
      .send(),
  );

  registerEventsRoute(app, {
    sink: deps.sink,
    options,
    now,
    dedup: new RecentIds({ ...options.dedup, now }),
    limiter: new TokenBuckets(options.rateLimit, now),
    checkKey: writeKeyChecker(deps.writeKeys),
    metrics,
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    const ready = deps.ready ? await deps.ready() : true;
    if (ready) return { status: 'ready' };
    return sendProblem(
      reply,
      { ...problem('unavailable', 'the Kafka producer is not connected or failing'), request_id: request.id },
      { 'retry-after': String(options.retryAfterSeconds) },
    );
  });
  registerMetricsRoute(app, registry);

  return app;
}
