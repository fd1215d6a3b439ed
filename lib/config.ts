// The one typed configuration module: every setting comes from an environment variable
// with a local default, and is validated at start with an error that names the variable.

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  if (v === undefined || v.trim() === '') return fallback;
  return v.trim();
}

/** An integer variable within [min, max], or the fallback when unset; errors name the variable. */
export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `expected an integer, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `expected ${min}..${max}, got ${n}`);
  return n;
}

function url(env: Env, name: string, fallback: string): string {
  const v = str(env, name, fallback);
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(name, `expected an http(s) URL, got "${v}"`);
  }
  return v.replace(/\/+$/, '');
}

function hostPorts(env: Env, name: string, fallback: string): string[] {
  const list = str(env, name, fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const hp of list) {
    if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(hp)) {
      throw new ConfigError(name, `expected host:port[,host:port...], got "${hp}"`);
    }
  }
  if (list.length === 0) throw new ConfigError(name, 'expected at least one host:port');
  return list;
}

/** VIEWPULSE_CLICKHOUSE_URLS (comma-separated replicas) when set, else VIEWPULSE_CLICKHOUSE_URL alone. */
function clickhouseUrls(env: Env): { url: string; urls: string[] } {
  const list = (env.VIEWPULSE_CLICKHOUSE_URLS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((u) => url({ VIEWPULSE_CLICKHOUSE_URLS: u }, 'VIEWPULSE_CLICKHOUSE_URLS', u));
  const urls = list.length ? list : [url(env, 'VIEWPULSE_CLICKHOUSE_URL', 'http://127.0.0.1:8123')];
  return { url: urls[0]!, urls };
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const v = str(env, name, fallback);
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${v}"`);
  }
  return v as T;
}

function identifier(env: Env, name: string, fallback: string): string {
  const v = str(env, name, fallback);
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(v)) {
    throw new ConfigError(name, `expected a plain identifier ([A-Za-z_][A-Za-z0-9_]*), got "${v}"`);
  }
  return v;
}

/**
 * The rule parameters (docs/semantics.md, "Rule parameters") as plain numbers: each variable,
 * its default and range. processors/parameters.ts holds the same defaults and ranges (lib may
 * not import processors; a unit test holds the two equal).
 */
export const RULE_VARIABLES = {
  viewThresholdMs: { variable: 'VIEWPULSE_RULE_VIEW_THRESHOLD_MS', fallback: 30_000, min: 1_000, max: 600_000 },
  repeatCapMs: { variable: 'VIEWPULSE_RULE_REPEAT_CAP_MS', fallback: 1_800_000, min: 0, max: 86_400_000 },
  sessionGapMs: { variable: 'VIEWPULSE_RULE_SESSION_GAP_MS', fallback: 1_800_000, min: 60_000, max: 21_600_000 },
  sessionGraceMs: { variable: 'VIEWPULSE_RULE_SESSION_GRACE_MS', fallback: 300_000, min: 0, max: 21_600_000 },
  windowGraceMs: { variable: 'VIEWPULSE_RULE_WINDOW_GRACE_MS', fallback: 60_000, min: 0, max: 21_600_000 },
  allowedLatenessMs: {
    variable: 'VIEWPULSE_RULE_ALLOWED_LATENESS_MS',
    fallback: 1_200_000,
    min: 0,
    max: 21_600_000,
  },
  outOfOrdernessMs: { variable: 'VIEWPULSE_RULE_OUT_OF_ORDERNESS_MS', fallback: 10_000, min: 0, max: 3_600_000 },
} as const;

export type RuleConfig = { -readonly [K in keyof typeof RULE_VARIABLES]: number };

/** The rule parameters from VIEWPULSE_RULE_*; errors name the variable. */
export function ruleConfig(env: Env): RuleConfig {
  const out = {} as RuleConfig;
  for (const [key, r] of Object.entries(RULE_VARIABLES) as [
    keyof RuleConfig,
    (typeof RULE_VARIABLES)[keyof RuleConfig],
  ][])
    out[key] = int(env, r.variable, r.fallback, r.min, r.max);
  return out;
}

export interface Config {
  kafka: {
    brokers: string[];
    clientId: string;
    topicPrefix: string;
    playEventPartitions: number;
    /** how the collector compresses play events (VIEWPULSE_KAFKA_COMPRESSION; lib/kafka/producer.ts says why none) */
    compression: 'none' | 'gzip';
  };
  registry: { url: string };
  clickhouse: {
    /** the first of `urls`: the one server of a single-node setup */
    url: string;
    /** every replica clients may use, in order of preference (lib/clickhouse/failover.ts) */
    urls: string[];
    /** a cluster in the servers' <remote_servers>: migrations create replicated tables; '' for one server */
    cluster: string;
    database: string;
    user: string;
    password: string;
  };
  collector: { port: number; writeKeys: string[] };
  /** cacheMb: the response cache's memory (VIEWPULSE_API_CACHE_MB; 0 turns it off) */
  api: { port: number; jwtSecret: string; cacheMb: number };
  processors: {
    sessionTimeoutMs: number;
    flushIntervalMs: number;
    checkpointIntervalMs: number;
    restartBackoffMs: number;
    maxRestarts: number;
    stuckAfterMs: number;
    /** Where processor state goes: a Kafka changelog (default) or snapshot rows in ClickHouse. */
    stateStore: 'changelog' | 'clickhouse';
    /** How long a partition waits for the catalog to learn a record's video. */
    catalogHoldMs: number;
  };
  /** The rule parameters every processor and the API's finality use (processors/parameters.ts). */
  rules: RuleConfig;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
}

/** Reads and validates the configuration. Throws ConfigError naming the bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const topicPrefix = str(env, 'VIEWPULSE_TOPIC_PREFIX', '');
  if (!/^[A-Za-z0-9._-]*$/.test(topicPrefix)) {
    throw new ConfigError(
      'VIEWPULSE_TOPIC_PREFIX',
      `only letters, digits, ".", "_" and "-" are allowed, got "${topicPrefix}"`,
    );
  }
  const writeKeys = str(env, 'VIEWPULSE_WRITE_KEYS', 'vp_local_write_key')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  for (const k of writeKeys) {
    if (k.length < 8) throw new ConfigError('VIEWPULSE_WRITE_KEYS', 'each write key needs at least 8 characters');
  }
  const jwtSecret = str(env, 'VIEWPULSE_JWT_SECRET', 'viewpulse-local-dev-secret-change-me');
  if (jwtSecret.length < 16) throw new ConfigError('VIEWPULSE_JWT_SECRET', 'needs at least 16 characters');
  return {
    kafka: {
      brokers: hostPorts(env, 'VIEWPULSE_KAFKA_BROKERS', '127.0.0.1:9092'),
      clientId: str(env, 'VIEWPULSE_KAFKA_CLIENT_ID', 'viewpulse'),
      topicPrefix,
      playEventPartitions: int(env, 'VIEWPULSE_PLAY_EVENTS_PARTITIONS', 6, 1, 1024),
      compression: oneOf(env, 'VIEWPULSE_KAFKA_COMPRESSION', 'none', ['none', 'gzip'] as const),
    },
    registry: { url: url(env, 'VIEWPULSE_REGISTRY_URL', 'http://127.0.0.1:8081') },
    clickhouse: {
      ...clickhouseUrls(env),
      cluster: env.VIEWPULSE_CLICKHOUSE_CLUSTER?.trim() ? identifier(env, 'VIEWPULSE_CLICKHOUSE_CLUSTER', '') : '',
      database: identifier(env, 'VIEWPULSE_CLICKHOUSE_DATABASE', 'viewpulse'),
      user: str(env, 'VIEWPULSE_CLICKHOUSE_USER', 'default'),
      password: env.VIEWPULSE_CLICKHOUSE_PASSWORD ?? '',
    },
    collector: { port: int(env, 'VIEWPULSE_COLLECTOR_PORT', 3001, 1, 65535), writeKeys },
    api: {
      port: int(env, 'VIEWPULSE_API_PORT', 3000, 1, 65535),
      jwtSecret,
      cacheMb: int(env, 'VIEWPULSE_API_CACHE_MB', 64, 0, 65536),
    },
    processors: {
      // How long the group waits for a silent instance before moving its partitions.
      sessionTimeoutMs: int(env, 'VIEWPULSE_PROCESSOR_SESSION_TIMEOUT_MS', 30_000, 6_000, 300_000),
      flushIntervalMs: int(env, 'VIEWPULSE_PROCESSOR_FLUSH_MS', 1_000, 50, 60_000),
      // Every key that changed since the last checkpoint is written again at the next: a longer
      // interval writes a busy key fewer times, and a crash replays up to one interval of input
      // (docs/effectively-once.md, "State: keyed, incremental, in Kafka").
      checkpointIntervalMs: int(env, 'VIEWPULSE_PROCESSOR_CHECKPOINT_MS', 10_000, 100, 600_000),
      // A crashed consumer restarts after this (doubling per crash); after MAX_RESTARTS crashes
      // in a row without progress the process exits non-zero.
      restartBackoffMs: int(env, 'VIEWPULSE_PROCESSOR_RESTART_BACKOFF_MS', 1_000, 10, 60_000),
      maxRestarts: int(env, 'VIEWPULSE_PROCESSOR_MAX_RESTARTS', 5, 0, 1_000),
      stuckAfterMs: int(env, 'VIEWPULSE_PROCESSOR_STUCK_MS', 60_000, 1_000, 3_600_000),
      stateStore: oneOf(env, 'VIEWPULSE_STATE_STORE', 'changelog', ['changelog', 'clickhouse'] as const),
      catalogHoldMs: int(env, 'VIEWPULSE_CATALOG_HOLD_MS', 30_000, 0, 3_600_000),
    },
    rules: ruleConfig(env),
    logLevel: oneOf(env, 'VIEWPULSE_LOG_LEVEL', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const),
  };
}

/** host and port of an http URL, for the services that listen on it. */
export function portOf(u: string): number {
  const parsed = new URL(u);
  return Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
}
