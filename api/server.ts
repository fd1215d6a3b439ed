// Starting the creator insights API on ClickHouse (`viewpulse run api`, benchmarks, tests).
// This is the only place that opens the API's port.
import { dashboardPlugin } from './dashboard/plugin.js';
import type { FastifyPluginAsync } from 'fastify';
import { buildApp } from './app.js';
import { listening, type Listening } from './listening.js';
import { DEFAULT_RATE_LIMIT, type RateLimitOptions } from './auth.js';
import { createRegistry } from '../lib/metrics.js';
import { createClickHouse } from '../lib/clickhouse/client.js';
import { ConfigError, int, type Config } from '../lib/config.js';
import { createLogger, type Logger } from '../lib/logger.js';

type Env = Record<string, string | undefined>;

/** The API's own variables (lib/config.ts holds VIEWPULSE_API_PORT and VIEWPULSE_JWT_SECRET). */
export const API_ENV = {
  VIEWPULSE_API_CORS_ORIGINS: 'comma-separated origins allowed by CORS, "*" for any (default: none, no CORS)',
  VIEWPULSE_API_RATE_LIMIT: `requests per second per token (default ${DEFAULT_RATE_LIMIT.perSecond}; 0 turns the limit off)`,
  VIEWPULSE_API_RATE_BURST: `bucket size per token (default ${DEFAULT_RATE_LIMIT.burst})`,
} as const;

export interface ApiOptions {
  corsOrigins: string[];
  rateLimit: RateLimitOptions | false;
}

/** Reads the API's variables; an invalid value throws ConfigError naming it. */
export function apiOptionsFromEnv(env: Env = process.env): ApiOptions {
  const corsOrigins = (env.VIEWPULSE_API_CORS_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const o of corsOrigins) {
    if (o === '*') continue;
    let ok = false;
    try {
      const u = new URL(o);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o;
    } catch {
      ok = false;
    }
    if (!ok)
      throw new ConfigError('VIEWPULSE_API_CORS_ORIGINS', `expected origins like https://example.com or *, got "${o}"`);
  }
  const perSecond = int(env, 'VIEWPULSE_API_RATE_LIMIT', DEFAULT_RATE_LIMIT.perSecond, 0, 1_000_000);
  const burst = int(env, 'VIEWPULSE_API_RATE_BURST', Math.max(DEFAULT_RATE_LIMIT.burst, perSecond), 1, 10_000_000);
  return { corsOrigins, rateLimit: perSecond === 0 ? false : { perSecond, burst } };
}

export type RunningApi = Listening;

export interface RunApiOverrides {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Overrides config.api.port; 0 picks a free port. */
  port?: number;
  logger?: Logger;
  /** Environment for the API's own variables (default process.env). */
  env?: Env;
  /** Override what the environment says. */
  options?: Partial<ApiOptions>;
  now?: () => number;
  /** more root-level plugins, after the dashboard */
  plugins?: readonly FastifyPluginAsync[];
}

/** Builds the API (with the dashboard) on the configured ClickHouse and listens; `close()` drains requests, then ClickHouse. */
export async function runApi(config: Config, overrides: RunApiOverrides = {}): Promise<RunningApi> {
  const options = { ...apiOptionsFromEnv(overrides.env ?? process.env), ...overrides.options };
  const logger = overrides.logger ?? createLogger(config.logLevel, 'api');
  const clickhouse = createClickHouse(config.clickhouse);
  const app = buildApp({
    clickhouse,
    database: config.clickhouse.database,
    jwtSecret: config.api.jwtSecret,
    windowGraceMs: config.rules.windowGraceMs,
    logger,
    corsOrigins: options.corsOrigins,
    rateLimit: options.rateLimit,
    metrics: createRegistry(),
    cache: config.api.cacheMb === 0 ? false : { maxBytes: config.api.cacheMb * 1024 * 1024 },
    ...(overrides.now ? { now: overrides.now } : {}),
    // the dashboard at / is part of the served API (README, issue: "served by the API")
    plugins: [dashboardPlugin, ...(overrides.plugins ?? [])],
  });
  const host = overrides.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: overrides.port ?? config.api.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    await clickhouse.close();
    throw err;
  }
  const running = listening(app, host, config.api.port, async () => {
    await app.close();
    await clickhouse.close();
    logger.info('insights API stopped');
  });
  logger.info({ url: running.url, database: config.clickhouse.database }, 'insights API listening');
  return running;
}
