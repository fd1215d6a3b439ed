// The creator insights API as a fastify instance that never listens: api/server.ts gives it a
// ClickHouse client and a port; tests call `app.inject()` with a fixed clock.
//
//   GET /v1/creators/:id/...   /v1/videos/:id/...   insights (api/routes/*, listed in ROUTES);
//                                                   bearer JWT, per-token rate limit (api/auth.ts)
//   GET /docs                  Swagger UI; /docs/json the OpenAPI document
//   GET /healthz               liveness: the process answers
//   GET /readyz                readiness: ClickHouse answers a ping
//   GET /metrics               Prometheus
//
// Every error is application/problem+json with a stable code (api/problem.ts). Answers about a
// range that is already final carry an ETag and Cache-Control and honour If-None-Match (304).
// Answers are kept in a bounded response cache (api/response-cache.ts): final ones for their
// max-age, provisional ones for a second while the processors' watermark stands still.
import { createHash, randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Counter, Histogram, Registry } from 'prom-client';
import type { ClickHouseClient } from '../lib/clickhouse/client.js';
import { SqlValueError } from '../lib/clickhouse/sql.js';
import type { Logger } from '../lib/logger.js';
import { DEFAULT_RATE_LIMIT, installAuth, type RateLimitOptions } from './auth.js';
import {
  clientErrorHandler,
  installProblemHandlers,
  problem,
  problemFromError,
  ProblemError,
  sendProblem,
  type Problem,
} from './problem.js';
import { ROUTES } from './routes/index.js';
import { plusAsSpaceDetail, problemSchema } from './route-schemas.js';
import { registerMetricsRoute } from './metrics.js';
import { DEFAULT_WINDOW_GRACE_MS } from '../processors/semantics.js';
import { Freshness, ResponseCache, type CacheOptions } from './response-cache.js';
import { VideoLookups } from './queries/video-catalog.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** the response-cache key and watermark token of a cacheable insights request */
    cache: { key: string } | null;
  }
}

export interface ApiDeps {
  clickhouse: ClickHouseClient;
  /** the ClickHouse database holding Viewpulse's tables */
  database: string;
  /** HS256 secret of the bearer tokens (VIEWPULSE_JWT_SECRET) */
  jwtSecret: string;
  /**
   * the window grace view-counts runs with (config.rules.windowGraceMs): how far behind its
   * watermark counts are final; default the rule's default (DEFAULT_WINDOW_GRACE_MS)
   */
  windowGraceMs?: number;
  /** the clock (epoch ms): token expiry, default ranges, realtime, rate limits */
  now?: () => number;
  logger?: Logger;
  /** origins allowed by CORS; ['*'] allows any; empty or absent: no CORS headers */
  corsOrigins?: readonly string[];
  /** per-token rate limit; false turns it off */
  rateLimit?: RateLimitOptions | false;
  metrics?: Registry;
  /** more plugins at the root, outside /v1 and its authentication (e.g. the dashboard page) */
  plugins?: readonly FastifyPluginAsync[];
  /** the response cache's bounds and lifetimes; false turns it off */
  cache?: CacheOptions | false;
  /** how long a video's catalog entry answers access checks (default CATALOG_TTL_MS; 0: every request) */
  catalogTtlMs?: number;
}

/** Cache-Control of final answers: private (they depend on the token), revalidated by ETag. */
export const FINAL_CACHE_CONTROL = 'private, max-age=300';
export const RETRY_AFTER_SECONDS = 5;

interface ValidationLikeError {
  validation?: Array<{ instancePath?: string; message?: string; params?: Record<string, unknown> }>;
  validationContext?: string;
  message?: string;
  code?: string;
}

/** ClickHouse (or the network to it) is down or too slow: 503, worth a retry. */
function clickhouseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = String(e?.code ?? e?.cause?.code ?? '');
  if (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'UND_ERR_SOCKET'].includes(code)
  )
    return true;
  return /timeout|socket hang up|ECONNREFUSED/i.test(String(e?.message ?? ''));
}

/** Any error → a problem document (validation, unsafe values, ClickHouse outages, the rest). */
export function problemFor(err: unknown): { problem: Problem; headers: Record<string, string> } {
  const v = err as ValidationLikeError;
  if (v && Array.isArray(v.validation)) {
    const first = v.validation[0];
    const where = `${v.validationContext ?? 'request'}${first?.instancePath ?? ''}`;
    let detail = `${where} ${first?.message ?? 'is invalid'}`;
    const allowed = first?.params?.allowedValues;
    if (Array.isArray(allowed)) detail += `: ${allowed.join(', ')}`;
    const extra = first?.params?.additionalProperty;
    if (typeof extra === 'string') detail += `: ${JSON.stringify(extra.slice(0, 64))}`;
    return { problem: problem('bad_request', detail), headers: {} };
  }
  // A value the validation let through but the SQL binding refused: still the caller's input.
  if (err instanceof SqlValueError)
    return { problem: problem('bad_request', 'a parameter is out of range'), headers: {} };
  const known = problemFromError(err);
  if (known.problem.status < 500) return known;
  if (clickhouseUnavailable(err)) {
    return {
      problem: problem('unavailable', 'ClickHouse is unavailable; retry later'),
      headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
    };
  }
  return known;
}

function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}

export function buildApp(deps: ApiDeps): FastifyInstance {
  const now = deps.now ?? Date.now;
  const registry = deps.metrics ?? new Registry();
  const requests = new Counter({
    name: 'viewpulse_api_requests_total',
    help: 'insights API requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'viewpulse_api_request_duration_seconds',
    help: 'insights API request duration by route',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const cacheResults = new Counter({
    name: 'viewpulse_api_cache_total',
    help: 'insights answers served from the response cache (hit) or computed (miss; bypass when it could not be used)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const cache = deps.cache === false ? null : new ResponseCache(deps.cache ?? {});
  const freshness = cache ? new Freshness(deps.clickhouse, deps.database, cache.options.pollMs) : null;
  const refused = new Counter({
    name: 'viewpulse_api_auth_refused_total',
    help: 'requests refused by authentication (reason) or the per-token rate limit (rate_limited)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'req_id' }),
    genReqId: () => randomUUID(),
    requestTimeout: 30_000,
    clientErrorHandler,
    // Ids are at most 128 characters; longer path segments, and undecodable ones, answer a 400
    // problem document (frameworkErrors) instead of fastify's own JSON.
    routerOptions: { maxParamLength: 256 },
    frameworkErrors: (err: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply) => {
      const detail =
        err.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? 'a path parameter is longer than allowed'
          : 'the URL is not valid (bad percent-encoding?)';
      return sendProblem(reply, { ...problem('bad_request', detail), request_id: request.id });
    },
    // Unknown query parameters are refused (400), not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  }) as unknown as FastifyInstance;

  app.decorate('viewpulse', {
    clickhouse: deps.clickhouse,
    database: deps.database,
    windowGraceMs: deps.windowGraceMs ?? DEFAULT_WINDOW_GRACE_MS,
    now,
    videos: new VideoLookups({ clickhouse: deps.clickhouse, database: deps.database }, deps.catalogTtlMs),
  });
  app.decorateRequest('principal', null);
  app.decorateReply('finalRange', false);
  app.decorateRequest('cache', null);
  app.removeContentTypeParser(['text/plain']);

  installProblemHandlers(app, problemFor);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Where a route takes tz, from or to, a space in one of them is a "+" sent unencoded
  // (Etc/GMT+4 arrives as "Etc/GMT 4"): a 400 that says how to send it, not only that the
  // pattern does not match.
  app.addHook('preValidation', async (request) => {
    const schema = request.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
    if (!schema?.properties) return;
    const taken = Object.fromEntries(
      Object.entries(request.query ?? {}).filter(([k]) => schema.properties![k] !== undefined),
    );
    const detail = plusAsSpaceDetail(taken);
    if (detail) throw new ProblemError('bad_request', detail);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (!request.url.startsWith('/v1/')) return payload;
    const storable = reply.statusCode === 200 && (typeof payload === 'string' || Buffer.isBuffer(payload));
    if (!storable || !reply.finalRange) {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      if (storable && cache && request.cache) await store(request, reply, payload as string | Buffer, false);
      return payload;
    }
    const etag = `"${createHash('sha256')
      .update(String(reply.getHeader('content-type') ?? ''))
      .update('\n')
      .update(payload)
      .digest('base64url')
      .slice(0, 32)}"`;
    reply.header('etag', etag).header('cache-control', FINAL_CACHE_CONTROL);
    if (cache && request.cache) await store(request, reply, payload, true);
    if (ifNoneMatch(request.headers['if-none-match'], etag)) {
      reply.code(304);
      reply.removeHeader('content-length');
      return '';
    }
    return payload;
  });
  /**
   * Keeps an answer the handler computed with the headers it went out with, under the watermark
   * token read now (at most pollMs old): the answer is at least that fresh, or a TTL old at most.
   */
  async function store(request: FastifyRequest, reply: FastifyReply, payload: string | Buffer, final: boolean) {
    const token = await freshness!.token();
    if (token === null) return;
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'cache-control', 'etag', 'x-next-cursor']) {
      const h = reply.getHeader(name);
      if (h !== undefined) headers[name] = String(h);
    }
    cache!.set(request.cache!.key, { payload, headers, final, token });
  }

  /**
   * Before an insights handler (after authentication, the rate limit and validation): the
   * cached answer for this principal and URL, if valid — also as 304 for a matching ETag. Only
   * an answer that is there costs a look at the watermark (a provisional one), so a request the
   * handler refuses (someone else's creator, a bad range) still reaches ClickHouse not at all.
   */
  async function fromCache(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (!cache || !freshness || request.method !== 'GET' || !request.principal) return undefined;
    const key = `${request.principal.role}:${request.principal.sub}\n${request.headers.accept ?? ''}\n${request.url}`;
    const hit = cache.has(key) ? cache.get(key, await freshness.token()) : undefined;
    if (!hit) {
      cacheResults.inc({ result: 'miss' });
      request.cache = { key };
      reply.header('x-cache', 'miss');
      return undefined;
    }
    cacheResults.inc({ result: 'hit' });
    reply.header('x-cache', 'hit');
    for (const [k, val] of Object.entries(hit.headers)) reply.header(k, val);
    if (hit.final && hit.headers.etag && ifNoneMatch(request.headers['if-none-match'], hit.headers.etag)) {
      return reply.code(304).send('');
    }
    // served as it was stored: the onSend hook passes it through (no second store, same ETag)
    reply.finalRange = false;
    return reply.send(hit.payload);
  }

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ route, status: String(reply.statusCode) });
    duration.observe({ route }, reply.elapsedTime / 1000);
    request.log.info(
      { method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });

  const origins = (deps.corsOrigins ?? []).filter(Boolean);
  if (origins.length > 0) {
    void app.register(cors, {
      origin: origins.includes('*') ? '*' : [...origins],
      methods: ['GET', 'HEAD', 'OPTIONS'],
      allowedHeaders: ['authorization', 'accept', 'content-type', 'if-none-match'],
      exposedHeaders: ['etag', 'retry-after', 'x-request-id', 'x-next-cursor', 'www-authenticate'],
      maxAge: 600,
    });
  }

  void app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Viewpulse creator insights API',
        version: '1.0.0',
        description: [
          'Numbers about a creator and its videos, computed from play events by the Viewpulse stream processors',
          '(docs/semantics.md says exactly what each one means). Authenticate with a bearer JWT (HS256): `sub` is',
          "the creator id, `role` creator (its own creator and videos only) or admin (everything). Someone else's",
          'creator or video answers 404, like one that does not exist. Errors are application/problem+json with a',
          'stable `code`. Ranges are half-open [from, to) in whole minutes; `tz` sets day and hour boundaries.',
          'Tabular routes answer CSV with `Accept: text/csv` or `format=csv`. Answers about a range that is already',
          'final (to ≤ finalized_through; for numbers of views also the engagement processor past it and every view in it',
          'closed) carry an ETag and Cache-Control, and 304 on If-None-Match. Answers are',
          'kept in a bounded in-memory cache per token subject and URL (header x-cache: hit or miss): final ones',
          'for their max-age, provisional ones for at most 1 s and only until the processors write again, so an',
          'answer is never older than the freshness /v1/creators/{id}/health reports by more than 1 s.',
        ].join(' '),
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
        schemas: { Problem: problemSchema },
      },
      tags: [
        { name: 'creators', description: 'numbers about a creator and all its videos' },
        { name: 'videos', description: 'numbers about one video' },
        { name: 'operations', description: 'liveness and readiness' },
      ],
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });

  void app.register(async (root) => {
    root.get(
      '/healthz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Liveness',
          description: 'The process answers. No authentication.',
          response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
        },
      },
      async () => ({ status: 'ok' }),
    );
    root.get(
      '/readyz',
      {
        schema: {
          tags: ['operations'],
          summary: 'Readiness',
          description: 'ClickHouse answers a ping (503 problem+json otherwise). No authentication.',
          response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
        },
      },
      async (request, reply) => {
        let ok = false;
        try {
          ok = (await deps.clickhouse.ping()).success;
        } catch {
          ok = false;
        }
        if (ok) return { status: 'ready' };
        return sendProblem(
          reply,
          { ...problem('unavailable', 'ClickHouse does not answer'), request_id: request.id },
          { 'retry-after': String(RETRY_AFTER_SECONDS) },
        );
      },
    );
    registerMetricsRoute(root, registry, {
      tags: ['operations'],
      summary: 'Prometheus metrics',
      description:
        'Requests by route and status, durations, refused authentications and rate limits, process metrics ' +
        '(text exposition format). No authentication: bind the API to a private interface.',
    });

    await root.register(async (v1) => {
      installAuth(v1, {
        secret: deps.jwtSecret,
        now,
        rateLimit: deps.rateLimit === undefined ? DEFAULT_RATE_LIMIT : deps.rateLimit,
        onFailure: (reason) => refused.inc({ reason }),
      });
      v1.addHook('preHandler', fromCache);
      for (const routes of ROUTES) await v1.register(routes);
    });
    for (const plugin of deps.plugins ?? []) await root.register(plugin);
  });

  return app;
}
