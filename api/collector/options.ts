// The collector's limits and tunables, with defaults, and a small parser for the
// environment variables that change them (lib/config.ts holds the settings shared by every
// component; these concern the collector alone). An invalid value stops the program with an
// error naming the variable.
import { ConfigError } from '../../lib/config.js';

export interface CollectorOptions {
  /** Most events in one request (more: 413). */
  maxEventsPerRequest: number;
  /** Most bytes in one request body (more: 413). */
  maxBodyBytes: number;
  /** Most bytes of one event, serialized as JSON (more: 413). */
  maxEventBytes: number;
  /** Events older than this before received_at are rejected (`event_too_old`). */
  eventHorizonMs: number;
  /** Per write key: a token bucket refilled at `perSecond`, holding at most `burst` requests. */
  rateLimit: { perSecond: number; burst: number };
  /** Recently accepted event_ids remembered for deduplication: at most `maxEntries`, at most `ttlMs` old. */
  dedup: { maxEntries: number; ttlMs: number };
  /** How long a request waits for Kafka's acknowledgement before it answers 503. */
  sendTimeoutMs: number;
  /** Retry-After (seconds) of a 503. */
  retryAfterSeconds: number;
}

export const DEFAULT_COLLECTOR_OPTIONS: CollectorOptions = {
  maxEventsPerRequest: 500,
  maxBodyBytes: 512 * 1024,
  maxEventBytes: 32 * 1024,
  eventHorizonMs: 7 * 24 * 3_600_000,
  rateLimit: { perSecond: 200, burst: 400 },
  dedup: { maxEntries: 1_000_000, ttlMs: 3_600_000 },
  sendTimeoutMs: 10_000,
  retryAfterSeconds: 2,
};

export type CollectorOptionsInput = Partial<Omit<CollectorOptions, 'rateLimit' | 'dedup'>> & {
  rateLimit?: Partial<CollectorOptions['rateLimit']>;
  dedup?: Partial<CollectorOptions['dedup']>;
};

/** Defaults overridden by `input` (nested objects merged). A rate without a burst gets burst = 2 × rate. */
export function collectorOptions(
  input: CollectorOptionsInput = {},
  base = DEFAULT_COLLECTOR_OPTIONS,
): CollectorOptions {
  const perSecond = input.rateLimit?.perSecond ?? base.rateLimit.perSecond;
  const burst =
    input.rateLimit?.burst ??
    (input.rateLimit?.perSecond !== undefined ? Math.max(1, 2 * perSecond) : base.rateLimit.burst);
  return {
    ...base,
    ...input,
    rateLimit: { perSecond, burst },
    dedup: { ...base.dedup, ...input.dedup },
  };
}

type Env = Record<string, string | undefined>;

function num(env: Env, name: string, min: number, max: number, integer = true): number | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const ok = integer ? /^\d+$/.test(raw) : /^\d+(\.\d+)?$/.test(raw);
  const n = Number(raw);
  if (!ok || !Number.isFinite(n)) {
    throw new ConfigError(name, `expected ${integer ? 'an integer' : 'a number'}, got "${raw}"`);
  }
  if (n < min || n > max) throw new ConfigError(name, `expected ${min}..${max}, got ${n}`);
  return n;
}

/** The variables, for `--help` texts and the README. */
export const COLLECTOR_ENV = {
  VIEWPULSE_EVENT_HORIZON_HOURS: 'reject events older than this many hours (default 168 = 7 days)',
  VIEWPULSE_COLLECTOR_RATE_LIMIT: 'requests per second per write key (default 200)',
  VIEWPULSE_COLLECTOR_RATE_BURST: 'requests a write key may send at once before its rate applies (default 2 × rate)',
  VIEWPULSE_COLLECTOR_DEDUP_MAX: 'event_ids remembered for deduplication (default 1000000)',
  VIEWPULSE_COLLECTOR_DEDUP_TTL_SECONDS: 'how long an event_id is remembered (default 3600)',
  VIEWPULSE_COLLECTOR_SEND_TIMEOUT_MS: 'wait this long for Kafka before answering 503 (default 10000)',
} as const;

/** Options from the environment (unset variables keep their defaults). Throws ConfigError. */
export function collectorOptionsFromEnv(env: Env = process.env): CollectorOptions {
  const horizonHours = num(env, 'VIEWPULSE_EVENT_HORIZON_HOURS', 1, 24 * 366);
  const dedupTtl = num(env, 'VIEWPULSE_COLLECTOR_DEDUP_TTL_SECONDS', 1, 7 * 24 * 3600);
  const input: CollectorOptionsInput = {
    eventHorizonMs: horizonHours === undefined ? undefined : horizonHours * 3_600_000,
    rateLimit: {
      perSecond: num(env, 'VIEWPULSE_COLLECTOR_RATE_LIMIT', 0.01, 1_000_000, false),
      burst: num(env, 'VIEWPULSE_COLLECTOR_RATE_BURST', 1, 10_000_000),
    },
    dedup: {
      maxEntries: num(env, 'VIEWPULSE_COLLECTOR_DEDUP_MAX', 1, 10_000_000),
      ttlMs: dedupTtl === undefined ? undefined : dedupTtl * 1000,
    },
    sendTimeoutMs: num(env, 'VIEWPULSE_COLLECTOR_SEND_TIMEOUT_MS', 100, 600_000),
  };
  return collectorOptions(stripUndefined(input));
}

function stripUndefined(input: CollectorOptionsInput): CollectorOptionsInput {
  const clean = <T extends object>(o: T): Partial<T> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  const out = clean(input) as CollectorOptionsInput;
  if (input.rateLimit) out.rateLimit = clean(input.rateLimit);
  if (input.dedup) out.dedup = clean(input.dedup);
  return out;
}
