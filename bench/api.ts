// npm run bench:api — the creator insights API under an open-loop load, over a large and a
// small dataset, next to what ClickHouse itself takes for the same SQL, and while ingesting.
//
//  1. prepare (each dataset once; --reuse keeps them): a database and topics per dataset; a
//     generated catalog (1,000 creators, 20,000 videos) through the catalog processor; N
//     generated events over 90 days straight into Kafka (6 partitions) with the generator's
//     KafkaSink; then every processor (one `viewpulse run processors --workers 2` child: both
//     cores) until every group committed the whole topic. Large: --events (default
//     50,000,000); small: --small-events (default 5,000,000), so the results show how cost
//     grows with data.
//  2. the API in its own process (rate limit off, response cache on), one creator token per
//     creator; requests spread over the 250 most viewed creators and 1,000 most viewed videos
//     (Zipf-weighted) and a dashboard's mix of ranges (last 24 h, 7, 28 and 90 days, and single
//     past days), at least 1,000 distinct URLs per route.
//  3. per route and dataset: autocannon with a fixed offered rate (`overallRate`: open loop,
//     each rate of --rates, default 50 and 200 requests/s): p50/p99, the achieved rate, the
//     cache hit ratio (viewpulse_api_cache_total); then rising rates (--max-rates) until p99
//     passes 100 ms or the rate is not achieved: the maximum sustainable rate.
//  4. ClickHouse's own time: one URL per route through an API with the cache off and a
//     recording proxy in front of ClickHouse; its queries replayed with the same text and
//     settings, in the same waves, one caller at a time; beside the uncached API, one at a time.
//  5. every route again at the highest of --rates over the large dataset while the generator
//     pumps new traffic into Kafka at --ingest-rate (20,000 events/s) and every processor
//     consumes it: p99 while ingesting over idle.
// Writes bench/results/api.json.
//
//   npm run bench:api [-- --events 50000000 --small-events 5000000 --reuse --duration 8 --drop]
import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClickHouseSettings } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { signToken } from '../api/auth.js';
import { RelatedRefresher } from '../api/related-refresher.js';
import { existsSync, readFileSync } from 'node:fs';
import { runApi } from '../api/server.js';
import { generateTraffic } from '../generator/index.js';
import { pump } from '../generator/run.js';
import { KafkaSink } from '../generator/sinks.js';
import { projectRoot } from '../infra/paths.js';
import { recordingProxy, type Captured } from '../tools/recording-proxy.js';
import { createClickHouse, exec, queryRows, type ClickHouseClient } from '../lib/clickhouse/client.js';
import { migrate } from '../lib/clickhouse/migrations.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { loadConfig, type Config } from '../lib/config.js';
import { createKafka } from '../lib/kafka/client.js';
import { RegistryClient } from '../lib/kafka/registry.js';
import { groupIdOf, PROCESSORS } from '../runtime/registry.js';
import { TABLES } from '../schemas/tables.js';
import { topics } from '../schemas/topics.js';
import { waitForCommitted } from '../lib/kafka/topics-admin.js';
import { publishCatalog, pumpIntoKafka } from '../harness/dataset.js';
import { pipelineFor, setUpPipeline } from '../harness/pipeline.js';
import { spawnProcessors, stopChild } from './children.js';
import { percentile, writeResults } from './results-file.js';
import { DAY, HOUR } from '../lib/time.js';
import { maxOf } from '../lib/arrays.js';

// ---------------------------------------------------------------------------- autocannon

// autocannon ships no types; this is the part of its API used here.
interface AutocannonHistogram {
  average: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  duration: number;
  latency: AutocannonHistogram;
  requests: AutocannonHistogram & { total: number };
  '2xx': number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
}
interface AutocannonRequest {
  method: string;
  path?: string;
  headers?: Record<string, string>;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
  /** requests per second over all connections: an open loop */
  overallRate?: number;
  /** seconds */
  timeout?: number;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// ---------------------------------------------------------------------------- options

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '50000000' },
    'small-events': { type: 'string', default: '5000000' },
    reuse: { type: 'boolean', default: false },
    drop: { type: 'boolean', default: false },
    database: { type: 'string', default: 'bench_api' },
    duration: { type: 'string', default: '8' },
    'step-duration': { type: 'string', default: '4' },
    rates: { type: 'string', default: '50,200' },
    'max-rates': { type: 'string', default: '100,200,400,800,1600,3200' },
    'ingest-rate': { type: 'string', default: '20000' },
    connections: { type: 'string', default: '100' },
    only: { type: 'string' },
    seed: { type: 'string', default: '11' },
    'serve-api': { type: 'boolean', default: false },
    'serve-pump': { type: 'boolean', default: false },
  },
});
const LARGE_EVENTS = Number(args.events);
const SMALL_EVENTS = Number(args['small-events']);
const DURATION = Number(args.duration);
const STEP_DURATION = Number(args['step-duration']);
const RATES = args.rates!.split(',').map(Number);
const MAX_RATES = args['max-rates']!.split(',').map(Number);
const INGEST_RATE = Number(args['ingest-rate']);
const CONNECTIONS = Number(args.connections);
const SEED = Number(args.seed);
const P99_LIMIT_MS = 100;
const SERIAL_SECONDS = 3;
const URL_MARK = 'bench-api-url:';
const PUMP_MARK = 'bench-pump-sent:';
const PLAY_EVENT_PROCESSORS = (Object.keys(PROCESSORS) as (keyof typeof PROCESSORS)[]).filter(
  (n) => PROCESSORS[n].inputTopic === 'playEvents',
);
/** The shape of the generated data (the issue's 50 M dataset: 90 days, 1,000 creators, 20,000 videos). */
const SHAPE = { days: 90, creators: 1000, videos: 20_000, eventsPerViewer: 25 };

const log = (line: string): void => console.error(`[bench:api] ${line}`);

interface Dataset {
  label: 'large' | 'small';
  database: string;
  prefix: string;
  events: number;
}
const dataset = (label: Dataset['label'], database: string, events: number): Dataset => ({
  label,
  database,
  prefix: `${database.replaceAll('_', '-')}.`,
  events,
});
const DATASETS: Dataset[] = [
  dataset('large', args.database!, LARGE_EVENTS),
  dataset('small', `${args.database!}_small`, SMALL_EVENTS),
];

function benchConfig(d: { database: string; prefix: string }): Config {
  const base = loadConfig();
  return {
    ...base,
    kafka: { ...base.kafka, topicPrefix: d.prefix },
    clickhouse: { ...base.clickhouse, database: d.database },
    logLevel: 'warn',
  };
}

// ---------------------------------------------------------------------------- child processes

/** This file again in a child process, in one of its serve modes; resolves with the first marked line. */
async function startSelf(mode: '--serve-api' | '--serve-pump', d: Dataset, env: Record<string, string>, mark: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), mode], {
    env: {
      ...process.env,
      VIEWPULSE_TOPIC_PREFIX: d.prefix,
      VIEWPULSE_CLICKHOUSE_DATABASE: d.database,
      VIEWPULSE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const listeners = new Set<(line: string) => void>();
  lines.on('line', (line) => {
    for (const l of listeners) l(line);
  });
  const first = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${mode} child exited with ${code}`)));
    listeners.add((line) => {
      if (line.startsWith(mark)) resolve(line.slice(mark.length).trim());
    });
  });
  return { child, first, onLine: (fn: (line: string) => void) => listeners.add(fn) };
}

const envDataset = (): { database: string; prefix: string } => ({
  database: process.env.VIEWPULSE_CLICKHOUSE_DATABASE!,
  prefix: process.env.VIEWPULSE_TOPIC_PREFIX!,
});

/** --serve-api: the API on a free port, rate limit off (cache as VIEWPULSE_API_CACHE_MB says); prints its URL. */
async function serveApi(): Promise<void> {
  const api = await runApi(benchConfig(envDataset()), { port: 0, options: { rateLimit: false } });
  console.log(`${URL_MARK} ${api.url}`);
  const done = (): void => void api.close().then(() => process.exit(0));
  process.on('SIGTERM', done);
  process.on('SIGINT', done);
}

/** --serve-pump: new generated traffic (its own catalog, already published) into Kafka at BENCH_PUMP_RATE events/s until SIGTERM. */
async function servePump(): Promise<void> {
  const config = benchConfig(envDataset());
  const kafka = createKafka(config.kafka);
  const rate = Number(process.env.BENCH_PUMP_RATE);
  // Current traffic: visits from now on, at the rate it is sent, so event times follow the wall
  // clock and the processors do their full work (old traffic would mostly be late events).
  const events = 50_000_000;
  const traffic = generateTraffic({
    events,
    seed: Number(process.env.BENCH_PUMP_SEED),
    start: Math.floor(Date.now() / 60_000) * 60_000,
    spanMs: Math.round((events / rate) * 1000),
  });
  const sink = new KafkaSink(kafka, new RegistryClient(config.registry.url), config.kafka.topicPrefix + 'play-events', {
    chunk: 2000,
    maxInFlight: 8,
  });
  await sink.connect();
  const abort = new AbortController();
  process.on('SIGTERM', () => abort.abort());
  console.log(`${PUMP_MARK} 0`);
  const ticker = setInterval(() => console.log(`${PUMP_MARK} ${sink.stats().accepted}`), 1000);
  await pump(traffic, sink, { rate, signal: abort.signal });
  clearInterval(ticker);
  console.log(`${PUMP_MARK} ${sink.stats().accepted}`);
  process.exit(0);
}

// ---------------------------------------------------------------------------- preparation

async function waitForProcessors(kafka: Kafka, d: Dataset, timeoutMs: number): Promise<void> {
  for (const name of PLAY_EVENT_PROCESSORS)
    await waitForCommitted(kafka, groupIdOf(d.prefix, name), topics(d.prefix).playEvents, timeoutMs);
}

async function dropEverything(kafka: Kafka, ch: ClickHouseClient, d: Dataset): Promise<void> {
  await exec(ch, sql`DROP DATABASE IF EXISTS ${v.ident(d.database)}`);
  const admin = kafka.admin();
  await admin.connect();
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(d.prefix));
  if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(d.prefix));
  if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
  // Topic deletion is asynchronous in Kafka: wait until the names are free again.
  for (let i = 0; i < 60; i++) {
    const a = kafka.admin();
    await a.connect();
    const left = (await a.listTopics()).filter((t) => t.startsWith(d.prefix));
    await a.disconnect();
    if (!left.length) return;
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface Prepared {
  events: number;
  seed: number;
  prepared_at: string;
  generate_seconds: number;
  /** the processors, from offset 0 until every group committed the whole topic */
  catch_up_seconds: number;
  generate_events_per_s: number;
}

const META = 'bench_meta';

async function readPrepared(ch: ClickHouseClient, d: Dataset): Promise<Prepared | undefined> {
  const exists = await queryRows<{ n: string }>(
    ch,
    sql`SELECT count() AS n FROM system.tables WHERE database = ${v.string(d.database)} AND name = ${v.string(META)}`,
  );
  if (Number(exists[0]?.n) === 0) return undefined;
  const [row] = await queryRows<Prepared>(
    ch,
    sql`SELECT * FROM ${v.table(d.database, META)} ORDER BY prepared_at DESC LIMIT 1`,
  );
  return row ? { ...row, events: Number(row.events), seed: Number(row.seed) } : undefined;
}

async function prepare(kafka: Kafka, ch: ClickHouseClient, d: Dataset): Promise<Prepared> {
  const config = benchConfig(d);
  log(`preparing ${d.database}: ${d.events} events (seed ${SEED}) into ${topics(d.prefix).playEvents}`);
  await dropEverything(kafka, ch, d);
  const p = await setUpPipeline(pipelineFor(config), 6);
  const traffic = generateTraffic({
    events: d.events,
    seed: SEED,
    now: Date.now(),
    spanMs: SHAPE.days * DAY,
    creators: SHAPE.creators,
    videos: SHAPE.videos,
    viewers: Math.max(1000, Math.round(d.events / SHAPE.eventsPerViewer)),
  });
  // The catalog first (the catalog processor alone), then every event straight into Kafka,
  // then the processors from offset 0 until they committed the whole topic.
  const target = { prefix: d.prefix, database: d.database };
  const catalogLoader = spawnProcessors(['catalog'], target);
  let processors: ChildProcess | undefined;
  try {
    await publishCatalog(p, traffic, { runLoader: false, timeoutMs: 300_000 });
    await stopChild(catalogLoader);
    log(`catalog: ${traffic.catalog.videos.length} videos of ${traffic.catalog.creators.length} creators loaded`);
    const started = Date.now();
    const r = await pumpIntoKafka(p, traffic, {
      chunk: 2000,
      maxInFlight: 8,
      progressEveryMs: 30_000,
      onProgress: (n, ms) => log(`  generated ${n} (${Math.round(n / (ms / 1000))}/s)`),
    });
    const generateSeconds = (Date.now() - started) / 1000;
    log(`generated ${r.delivered} records in ${generateSeconds.toFixed(0)} s; running the processors…`);
    const catchUp = Date.now();
    // two worker processes: both cores (one process runs every processor on one event loop)
    processors = spawnProcessors(undefined, target, ['--workers', '2']);
    await waitForProcessors(kafka, d, 6 * 3_600_000);
    const catchUpSeconds = (Date.now() - catchUp) / 1000;
    log(`processors took ${catchUpSeconds.toFixed(0)} s (${Math.round(r.delivered / catchUpSeconds)} events/s)`);
    const prepared: Prepared = {
      events: r.delivered,
      seed: SEED,
      prepared_at: new Date().toISOString().slice(0, 19).replace('T', ' '),
      generate_seconds: Math.round(generateSeconds),
      catch_up_seconds: Math.round(catchUpSeconds),
      generate_events_per_s: Math.round(r.delivered / generateSeconds),
    };
    await exec(
      ch,
      sql`CREATE TABLE IF NOT EXISTS ${v.table(d.database, META)} (
            events UInt64, seed UInt32, prepared_at DateTime, generate_seconds UInt32,
            catch_up_seconds UInt32, generate_events_per_s UInt32
          ) ENGINE = TinyLog`,
    );
    await ch.insert({ table: `${d.database}.${META}`, values: [prepared], format: 'JSONEachRow' });
    return prepared;
  } finally {
    await stopChild(catalogLoader);
    await stopChild(processors);
    await p.clickhouse.close();
  }
}

/**
 * The materialized recommendations brought up to date, as the refresher beside the processors
 * keeps them: every video due is scored (all of them the first time, and on a new UTC day).
 */
async function refreshRecommendations(d: Dataset): Promise<{ seconds: number; videos: number; creators: number }> {
  const config = benchConfig(d);
  const client = createClickHouse(config.clickhouse);
  // one round: every video due, then each creator once
  const refresher = new RelatedRefresher({ clickhouse: client, database: d.database }, { batch: 100_000 });
  const t0 = Date.now();
  let videos = 0;
  let creators = 0;
  try {
    for (;;) {
      const r = await refresher.refreshOnce();
      if (r.videos === 0) break;
      videos += r.videos;
      creators += r.creators;
      log(`  ${d.database}: recommendations of ${videos} videos and ${creators} creators scored`);
    }
  } finally {
    await client.close();
  }
  return { seconds: Math.round((Date.now() - t0) / 1000), videos, creators };
}

// ---------------------------------------------------------------------------- the SQL of a route

/** Queries grouped into waves: those of one wave ran at the same time, a wave started after the previous one ended. */
function waves(records: readonly Captured[]): Captured[][] {
  const out: Captured[][] = [];
  let waveEnd = -Infinity;
  for (const r of [...records].sort((a, b) => a.start - b.start)) {
    if (out.length === 0 || r.start >= waveEnd) {
      out.push([r]);
      waveEnd = r.end;
    } else {
      out[out.length - 1]!.push(r);
      waveEnd = Math.max(waveEnd, r.end);
    }
  }
  return out;
}

/** Runs a route's captured SQL through the ClickHouse client: same text, settings and waves. */
function replayer(ch: ClickHouseClient, ws: Captured[][]): () => Promise<void> {
  const prepared = ws.map((w) =>
    w.map((c) => ({
      // The text was built by the API with the sql`` tag; it is replayed verbatim.
      query: c.query.replace(/\s*FORMAT\s+\w+\s*$/i, ''),
      settings: c.settings,
    })),
  );
  return async () => {
    for (const w of prepared) {
      await Promise.all(
        w.map(async (q) => {
          const rs = await ch.query({
            query: q.query,
            format: 'JSONEachRow',
            clickhouse_settings: q.settings as ClickHouseSettings,
          });
          await rs.text();
        }),
      );
    }
  };
}

// ---------------------------------------------------------------------------- the requests

interface Request {
  path: string;
  authorization: string;
}

/** A deterministic random source (the URL mix is the same run after run). */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Index 0..n-1 with Zipf(1) weights: the popular creators and videos are asked for most. */
function zipf(n: number, r: () => number): () => number {
  const cumulative: number[] = [];
  let total = 0;
  for (let i = 1; i <= n; i++) cumulative.push((total += 1 / i));
  return () => {
    const x = r() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

const iso = (t: number): string => new Date(t).toISOString();

/**
 * A dashboard's ranges, ending at `end` (the hour after the data): mostly the last 7 days, then
 * the last 28 days, 24 hours, 90 days, and single past days (final, cacheable).
 */
function rangeOf(end: number, r: () => number): { from: number; to: number; interval: 'hour' | 'day' } {
  const x = r();
  if (x < 0.4) return { from: end - 7 * DAY, to: end, interval: 'day' };
  if (x < 0.65) return { from: end - 28 * DAY, to: end, interval: 'day' };
  if (x < 0.8) return { from: end - DAY, to: end, interval: 'hour' };
  if (x < 0.9) return { from: end - 90 * DAY, to: end, interval: 'day' };
  const day = Math.floor(end / DAY) * DAY - (1 + Math.floor(r() * 60)) * DAY;
  return { from: day, to: day + DAY, interval: 'hour' };
}

interface RouteSpec {
  name: string;
  /** a creator route (id = creator) or a video route (id = video) */
  of: 'creator' | 'video';
  path: (id: string, range: { from: number; to: number; interval: string }) => string;
  /** a CSV export (not held to the request-rate target) */
  csv?: boolean;
}

const q = (range: { from: number; to: number }, extra = ''): string =>
  `from=${iso(range.from)}&to=${iso(range.to)}&tz=UTC${extra}`;

const ROUTE_SPECS: RouteSpec[] = [
  { name: 'overview', of: 'creator', path: (id, r) => `/v1/creators/${id}/overview?${q(r)}` },
  {
    name: 'timeseries',
    of: 'creator',
    path: (id, r) => `/v1/creators/${id}/timeseries?metric=views&interval=${r.interval}&${q(r)}`,
  },
  { name: 'realtime', of: 'creator', path: (id) => `/v1/creators/${id}/realtime` },
  { name: 'videos', of: 'creator', path: (id, r) => `/v1/creators/${id}/videos?sort=views&limit=20&${q(r)}` },
  { name: 'audience', of: 'creator', path: (id, r) => `/v1/creators/${id}/audience?${q(r)}` },
  { name: 'health', of: 'creator', path: (id, r) => `/v1/creators/${id}/health?${q(r)}` },
  { name: 'creator_qoe', of: 'creator', path: (id, r) => `/v1/creators/${id}/qoe?interval=${r.interval}&${q(r)}` },
  { name: 'also_watched', of: 'creator', path: (id) => `/v1/creators/${id}/audience/also-watched?limit=10` },
  { name: 'video_stats', of: 'video', path: (id, r) => `/v1/videos/${id}/stats?interval=${r.interval}&${q(r)}` },
  { name: 'retention', of: 'video', path: (id, r) => `/v1/videos/${id}/retention?${q(r)}` },
  { name: 'breakdown', of: 'video', path: (id, r) => `/v1/videos/${id}/breakdown?dimension=country&${q(r)}` },
  { name: 'traffic', of: 'video', path: (id, r) => `/v1/videos/${id}/traffic?${q(r)}` },
  { name: 'video_qoe', of: 'video', path: (id, r) => `/v1/videos/${id}/qoe?interval=${r.interval}&${q(r)}` },
  { name: 'recommendations', of: 'video', path: (id) => `/v1/videos/${id}/recommendations?limit=10` },
  {
    name: 'timeseries_csv',
    of: 'creator',
    csv: true,
    path: (id, r) => `/v1/creators/${id}/timeseries?metric=views&interval=${r.interval}&${q(r)}&format=csv`,
  },
];

interface Population {
  creators: string[];
  videos: Array<{ id: string; creator: string }>;
  tokens: Map<string, string>;
  end: number;
}

async function population(ch: ClickHouseClient, d: Dataset, secret: string): Promise<Population> {
  const t = (k: keyof typeof TABLES) => v.table(d.database, TABLES[k]);
  const [last] = await queryRows<{ last: number }>(
    ch,
    sql`SELECT toUInt32(max(window_start)) AS last FROM ${t('counts')} WHERE grain = 'minute'`,
  );
  const end = Math.ceil((Number(last!.last) * 1000 + 60_000) / HOUR) * HOUR;
  const creators = await queryRows<{ id: string }>(
    ch,
    sql`SELECT id FROM ${t('counts')} FINAL WHERE dim = 'creator' AND grain = 'day'
        GROUP BY id ORDER BY sum(views) DESC, id LIMIT 250`,
  );
  const top = await queryRows<{ id: string }>(
    ch,
    sql`SELECT id FROM ${t('counts')} FINAL WHERE dim = 'video' AND grain = 'day'
        GROUP BY id ORDER BY sum(views) DESC, id LIMIT 1000`,
  );
  const owners = await queryRows<{ id: string; creator: string }>(
    ch,
    sql`SELECT video_id AS id, argMax(creator_id, version) AS creator FROM ${t('videos')}
        WHERE video_id IN ${v.inList(
          top.map((x) => x.id),
          'String',
        )} GROUP BY video_id`,
  );
  const ownerOf = new Map(owners.map((x) => [x.id, x.creator]));
  const videos = top.filter((x) => ownerOf.get(x.id)).map((x) => ({ id: x.id, creator: ownerOf.get(x.id)! }));
  const tokens = new Map<string, string>();
  for (const id of new Set([...creators.map((c) => c.id), ...videos.map((x) => x.creator)]))
    tokens.set(id, `Bearer ${await signToken({ secret, sub: id, role: 'creator', ttlSeconds: 12 * 3600 })}`);
  return { creators: creators.map((c) => c.id), videos, tokens, end };
}

/** The URLs of a route, in the order they are sent (cycled), and how many are distinct. */
function requestsFor(
  spec: RouteSpec,
  pop: Population,
  count: number,
  seed: number,
): { list: Request[]; distinct: number } {
  const r = random(seed);
  const pickCreator = zipf(pop.creators.length, r);
  const pickVideo = zipf(pop.videos.length, r);
  const list: Request[] = [];
  for (let i = 0; i < count; i++) {
    const range = rangeOf(pop.end, r);
    if (spec.of === 'creator') {
      const id = pop.creators[pickCreator()]!;
      list.push({ path: spec.path(id, range), authorization: pop.tokens.get(id)! });
    } else {
      const x = pop.videos[pickVideo()]!;
      list.push({ path: spec.path(x.id, range), authorization: pop.tokens.get(x.creator)! });
    }
  }
  return { list, distinct: new Set(list.map((x) => x.path)).size };
}

// ---------------------------------------------------------------------------- measuring

interface OpenLoop {
  offered_per_s: number;
  achieved_per_s: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  non_2xx: number;
  cache_hit_ratio: number | null;
}

async function cacheCounts(api: string): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`${api}/metrics`)).text();
  const n = (result: string): number =>
    Number(new RegExp(`viewpulse_api_cache_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return { hit: n('hit'), miss: n('miss') };
}

/** autocannon at a fixed offered rate, cycling through `list`. */
async function openLoop(api: string, list: readonly Request[], rate: number, seconds: number): Promise<OpenLoop> {
  let i = 0;
  const before = await cacheCounts(api);
  const r = await autocannon({
    url: api,
    connections: Math.min(CONNECTIONS, Math.max(10, Math.ceil(rate / 10))),
    duration: seconds,
    overallRate: rate,
    timeout: 30,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => {
          const x = list[i++ % list.length]!;
          return { ...req, path: x.path, headers: { authorization: x.authorization } };
        },
      },
    ],
  });
  const after = await cacheCounts(api);
  const hits = after.hit - before.hit;
  const lookups = hits + after.miss - before.miss;
  return {
    offered_per_s: rate,
    achieved_per_s: Math.round((r['2xx'] + r.non2xx) / r.duration),
    p50_ms: r.latency.p50,
    p99_ms: r.latency.p99,
    requests: r['2xx'] + r.non2xx,
    non_2xx: r.non2xx + r.errors + r.timeouts,
    cache_hit_ratio: lookups ? round3(hits / lookups) : null,
  };
}

/** A rate is sustained when p99 ≤ 100 ms, (almost) every offered request was sent, and all answered 2xx. */
const sustained = (x: OpenLoop): boolean =>
  x.p99_ms <= P99_LIMIT_MS && x.achieved_per_s >= 0.95 * x.offered_per_s && x.non_2xx === 0;

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const round2 = (x: number): number => Math.round(x * 100) / 100;
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Waits until ClickHouse runs no SELECT (the backlog of the previous measurement drained). */
async function quiet(ch: ClickHouseClient): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [r] = await queryRows<{ n: string }>(
      ch,
      sql`SELECT count() AS n FROM system.processes WHERE query LIKE 'SELECT%' AND query NOT LIKE '%system.processes%'`,
    );
    if (Number(r?.n) === 0) return;
    await new Promise((res) => setTimeout(res, 200));
  }
}

interface DatasetRun {
  raw_events: number;
  session_rows: number;
  rollup_rows: number;
  routes: Record<
    string,
    { distinct_urls: number; open_loop: Record<string, OpenLoop>; max_requests_per_s: number | null; steps: OpenLoop[] }
  >;
}

/** Every route over one dataset: the open-loop rates, then rising rates until one is not sustained. */
async function measureDataset(ch: ClickHouseClient, d: Dataset, pop: Population, specs: readonly RouteSpec[]) {
  const t = (k: keyof typeof TABLES) => v.table(d.database, TABLES[k]);
  const [size] = await queryRows<{ raw: string; sessions: string; rollup: string }>(
    ch,
    sql`SELECT (SELECT count() FROM ${t('playEvents')}) AS raw, (SELECT count() FROM ${t('sessions')}) AS sessions,
               (SELECT count() FROM ${t('engagementRollup')}) AS rollup`,
  );
  const api = await startSelf('--serve-api', d, {}, URL_MARK);
  const out: DatasetRun = {
    raw_events: Number(size!.raw),
    session_rows: Number(size!.sessions),
    rollup_rows: Number(size!.rollup),
    routes: {},
  };
  try {
    for (const [k, spec] of specs.entries()) {
      const { list, distinct } = requestsFor(spec, pop, 20_000, SEED * 100 + k);
      // warm the API's sockets and ClickHouse's caches, not the response cache: other URLs
      await openLoop(api.first, list.slice(10_000, 10_200), 50, 2);
      await quiet(ch);
      const open: Record<string, OpenLoop> = {};
      for (const rate of RATES) {
        open[String(rate)] = await openLoop(api.first, list, rate, DURATION);
        await quiet(ch);
      }
      const steps: OpenLoop[] = [];
      let max: number | null = null;
      for (const rate of MAX_RATES) {
        const x = await openLoop(api.first, list, rate, STEP_DURATION);
        steps.push(x);
        await quiet(ch);
        if (!sustained(x)) break;
        max = rate;
      }
      out.routes[spec.name] = { distinct_urls: distinct, open_loop: open, max_requests_per_s: max, steps };
      const o = Object.entries(open)
        .map(([rate, x]) => `${rate}/s: p50 ${x.p50_ms} p99 ${x.p99_ms} ms (hits ${x.cache_hit_ratio})`)
        .join(' · ');
      log(`${d.label} ${spec.name}: ${o} · max ${max ?? '<' + MAX_RATES[0]}/s (${distinct} distinct URLs)`);
    }
  } finally {
    await stopChild(api.child);
  }
  return out;
}

interface Serial {
  p50_ms: number;
  p99_ms: number;
  requests: number;
}

/** `fn` one call at a time for `seconds`. */
async function serial(fn: () => Promise<void>, seconds: number): Promise<Serial> {
  const times: number[] = [];
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50_ms: round1(percentile(times, 50)), p99_ms: round1(percentile(times, 99)), requests: times.length };
}

/** ClickHouse's own time for each route's SQL (one URL each), beside the API's with the cache off. */
async function clickhouseTime(config: Config, d: Dataset, pop: Population, specs: readonly RouteSpec[]) {
  const rec = await recordingProxy(config.clickhouse.url);
  const capture = await startSelf(
    '--serve-api',
    d,
    { VIEWPULSE_CLICKHOUSE_URL: rec.url, VIEWPULSE_API_CACHE_MB: '0' },
    URL_MARK,
  );
  const direct = createClickHouse(config.clickhouse);
  const out: Record<string, object> = {};
  let server: Server | undefined = rec.server;
  try {
    for (const spec of specs) {
      const [x] = requestsFor(spec, pop, 1, 7).list;
      const get = async (): Promise<void> => {
        const res = await fetch(`${capture.first}${x!.path}`, { headers: { authorization: x!.authorization } });
        if (res.status !== 200) throw new Error(`${spec.name}: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      };
      // the last of three requests: warm keep-alive sockets, so the queries' waves are real
      for (let i = 0; i < 3; i++) {
        rec.records.length = 0;
        await get();
      }
      const ws = waves(rec.records);
      const api = await serial(get, SERIAL_SECONDS);
      const chTime = await serial(replayer(direct, ws), SERIAL_SECONDS);
      out[spec.name] = {
        url: x!.path,
        queries: ws.reduce((n, w) => n + w.length, 0),
        query_waves: ws.length,
        api_uncached_serial: api,
        clickhouse_serial: chTime,
        ratio_api_to_clickhouse_p50: round2(api.p50_ms / chTime.p50_ms),
      };
      log(`${spec.name}: API (no cache) p50 ${api.p50_ms} ms · ClickHouse p50 ${chTime.p50_ms} ms for the same SQL`);
    }
  } finally {
    await stopChild(capture.child);
    server?.close();
    server = undefined;
    await direct.close();
  }
  return out;
}

/** Every route at `rate` while new traffic is pumped at INGEST_RATE and every processor consumes it. */
async function whileIngesting(
  kafka: Kafka,
  ch: ClickHouseClient,
  d: Dataset,
  pop: Population,
  specs: readonly RouteSpec[],
  rate: number,
) {
  const config = benchConfig(d);
  const pumpSeed = 100_000 + (Date.now() % 1_000_000);
  // Only for its catalog (which depends on the seed alone), published before the pump starts.
  const pumpTraffic = generateTraffic({ events: 1000, seed: pumpSeed, now: Date.now() });
  const processors = spawnProcessors(undefined, { prefix: d.prefix, database: d.database });
  const pumpPipeline = pipelineFor(config);
  await publishCatalog(pumpPipeline, pumpTraffic, { runLoader: false, timeoutMs: 300_000 });
  await pumpPipeline.clickhouse.close();
  const pumper = await startSelf(
    '--serve-pump',
    d,
    { BENCH_PUMP_SEED: String(pumpSeed), BENCH_PUMP_RATE: String(INGEST_RATE) },
    PUMP_MARK,
  );
  let sent = 0;
  pumper.onLine((line) => {
    if (line.startsWith(PUMP_MARK)) sent = Number(line.slice(PUMP_MARK.length));
  });
  const api = await startSelf('--serve-api', d, {}, URL_MARK);
  const committed = async (): Promise<number> => {
    const admin = kafka.admin();
    await admin.connect();
    const [c] = await admin.fetchOffsets({
      groupId: groupIdOf(d.prefix, 'view-counts'),
      topics: [topics(d.prefix).playEvents],
    });
    await admin.disconnect();
    return c!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  };
  const routes: Record<string, OpenLoop> = {};
  let ingestPerS = 0;
  let processedPerS = 0;
  try {
    await new Promise((r) => setTimeout(r, 15_000)); // the producer and the processors at full speed
    const sentBefore = sent;
    const consumedBefore = await committed();
    const t0 = Date.now();
    for (const [k, spec] of specs.entries()) {
      const { list } = requestsFor(spec, pop, 20_000, SEED * 100 + k);
      routes[spec.name] = await openLoop(api.first, list, rate, DURATION);
      log(
        `${spec.name} at ${rate}/s while ingesting: p50 ${routes[spec.name]!.p50_ms} p99 ${routes[spec.name]!.p99_ms} ms`,
      );
    }
    const seconds = (Date.now() - t0) / 1000;
    ingestPerS = Math.round((sent - sentBefore) / seconds);
    processedPerS = Math.round(((await committed()) - consumedBefore) / seconds);
    log(`meanwhile ${ingestPerS} events/s went into Kafka and view-counts committed ${processedPerS} events/s`);
  } catch (err) {
    await stopChild(processors);
    throw err;
  } finally {
    await stopChild(api.child);
    await stopChild(pumper.child);
  }
  /** Housekeeping for --reuse, after the results are written: the processors finish what was pumped. */
  const catchUp = async (): Promise<void> => {
    log('letting the processors catch up with what was pumped (at most 10 min)…');
    await waitForProcessors(kafka, d, 600_000).catch((err: unknown) => log(`not caught up: ${(err as Error).message}`));
    await stopChild(processors);
  };
  return {
    ingest_events_per_s_into_kafka: ingestPerS,
    view_counts_committed_events_per_s: processedPerS,
    routes,
    catchUp,
  };
}

// ---------------------------------------------------------------------------- main

async function main(): Promise<void> {
  if (!(LARGE_EVENTS >= 1000) || !(SMALL_EVENTS >= 1000) || !(DURATION >= 1)) throw new Error('bad arguments');
  const base = benchConfig(DATASETS[0]!);
  const kafka = createKafka(base.kafka);
  const ch = createClickHouse(base.clickhouse, 'default');
  const specs = args.only ? ROUTE_SPECS.filter((s) => args.only!.split(',').includes(s.name)) : ROUTE_SPECS;
  try {
    const prepared: Record<string, Prepared> = {};
    const refreshed: Record<string, { seconds: number; videos: number; creators: number }> = {};
    for (const d of DATASETS) {
      let p = args.reuse ? await readPrepared(ch, d) : undefined;
      if (args.reuse && !p) log(`--reuse: ${d.database} is not prepared; preparing it`);
      if (p && p.events < d.events * 0.99) {
        log(`${d.database} holds ${p.events} events, ${d.events} asked: preparing it again`);
        p = undefined;
      }
      if (p) {
        log(`reusing ${d.database}: ${p.events} events generated ${p.prepared_at} UTC`);
        await migrate(ch, d.database, join(projectRoot, 'schemas', 'clickhouse'));
      } else p = await prepare(kafka, ch, d);
      prepared[d.label] = p;
      refreshed[d.label] = await refreshRecommendations(d);
    }
    const [large, small] = DATASETS as [Dataset, Dataset];
    const popLarge = await population(ch, large, base.api.jwtSecret);
    const popSmall = await population(ch, small, base.api.jwtSecret);
    const runs = {
      large: await measureDataset(ch, large, popLarge, specs),
      small: await measureDataset(ch, small, popSmall, specs),
    };
    const chTime = await clickhouseTime(benchConfig(large), large, popLarge, specs);
    const top = maxOf(RATES);
    const ingesting = await whileIngesting(kafka, ch, large, popLarge, specs, top);

    const routes: Record<string, object> = {};
    for (const spec of specs) {
      const l = runs.large.routes[spec.name]!;
      const s = runs.small.routes[spec.name]!;
      const busy = ingesting.routes[spec.name]!;
      routes[spec.name] = {
        csv_export: spec.csv === true,
        distinct_urls: l.distinct_urls,
        open_loop: l.open_loop,
        max_requests_per_s: l.max_requests_per_s,
        max_rate_steps: l.steps,
        small_dataset: { open_loop: s.open_loop, max_requests_per_s: s.max_requests_per_s },
        size_ratio_p50: round2(l.open_loop[String(top)]!.p50_ms / Math.max(0.1, s.open_loop[String(top)]!.p50_ms)),
        while_ingesting: busy,
        ingesting_over_idle_p99: round2(busy.p99_ms / Math.max(0.1, l.open_loop[String(top)]!.p99_ms)),
        ...chTime[spec.name],
      };
    }
    const targets = Object.fromEntries(
      specs.map((spec) => {
        const r = routes[spec.name] as {
          open_loop: Record<string, OpenLoop>;
          max_requests_per_s: number | null;
          size_ratio_p50: number;
          ingesting_over_idle_p99: number;
        };
        return [
          spec.name,
          {
            p99_at_200_le_50ms: (r.open_loop['200']?.p99_ms ?? Infinity) <= 50,
            max_rate_ge_500: spec.csv ? null : (r.max_requests_per_s ?? 0) >= 500,
            size_ratio_le_1_5: r.size_ratio_p50 <= 1.5,
            ingesting_over_idle_le_2: r.ingesting_over_idle_p99 <= 2,
          },
        ];
      }),
    );
    const [version] = await queryRows<{ v: string }>(ch, sql`SELECT version() AS v`);
    const figures = {
      datasets: {
        large: {
          ...prepared.large,
          recommendations_refresh: refreshed.large,
          raw_events: runs.large.raw_events,
          session_rows: runs.large.session_rows,
          rollup_rows: runs.large.rollup_rows,
        },
        small: {
          ...prepared.small,
          recommendations_refresh: refreshed.small,
          raw_events: runs.small.raw_events,
          session_rows: runs.small.session_rows,
          rollup_rows: runs.small.rollup_rows,
        },
      },
      routes,
      while_ingesting: {
        offered_requests_per_s: top,
        ingest_events_per_s_into_kafka: ingesting.ingest_events_per_s_into_kafka,
        view_counts_committed_events_per_s: ingesting.view_counts_committed_events_per_s,
      },
      targets,
    };
    // --only remeasures some routes: the others keep their figures from the last full run
    const resultsFile = join(projectRoot, 'bench', 'results', 'api.json');
    if (args.only && existsSync(resultsFile)) {
      const previous = JSON.parse(readFileSync(resultsFile, 'utf8')) as {
        figures?: { routes?: Record<string, object>; targets?: Record<string, object> };
      };
      const at = new Date().toISOString();
      for (const r of Object.values(routes)) (r as Record<string, unknown>).measured_at = at;
      figures.routes = { ...previous.figures?.routes, ...routes };
      (figures as { targets: object }).targets = { ...previous.figures?.targets, ...targets };
    }
    const command = `npm run bench:api -- --events ${LARGE_EVENTS} --small-events ${SMALL_EVENTS}${args.reuse ? ' --reuse' : ''} --duration ${DURATION}${args.only ? ` --only ${args.only}` : ''}`;
    const file = writeResults(
      'api',
      command,
      {
        data: `two datasets, each generated over ${SHAPE.days} days (${SHAPE.creators} creators, ${SHAPE.videos} videos, events/${SHAPE.eventsPerViewer} viewers) straight into Kafka (6 partitions), then every processor from offset 0 (run processors --workers 2) until committed`,
        requests: `per route 20,000 requests cycled: the 250 most viewed creators / 1,000 most viewed videos (Zipf(1) weights), each with its own creator token; ranges: last 7 days 40 %, last 28 days 25 %, last 24 h 15 %, last 90 days 10 %, a single past day 10 %`,
        open_loop: `autocannon overallRate (an open loop: requests are sent at the rate whatever the answers), ${DURATION} s per rate; rising rates ${STEP_DURATION} s each until p99 > ${P99_LIMIT_MS} ms, < 95 % of the rate achieved or a non-2xx answer; the last sustained rate is max_requests_per_s`,
        cache: 'the API response cache on (64 MiB); cache_hit_ratio from viewpulse_api_cache_total during each run',
        clickhouse: `${version!.v}; one URL per route through an API with the cache off and a recording proxy; its SQL replayed verbatim, waves in order, one caller at a time, ${SERIAL_SECONDS} s, beside that API one request at a time`,
        ingestion: `every route at ${top} requests/s over the large dataset while new traffic (its own catalog, event times from now on) is pumped at ${INGEST_RATE} events/s and every processor consumes it; from 15 s after both started`,
        note: 'Kafka, the registry, ClickHouse, the processors, the API and the load generator all share this 2-core machine',
      },
      figures,
    );
    console.log(JSON.stringify(figures.targets, null, 2));
    log(`wrote ${file}`);
    await ingesting.catchUp();
    if (args.drop) for (const d of DATASETS) await dropEverything(kafka, ch, d);
    else log(`kept ${DATASETS.map((d) => d.database).join(', ')} for --reuse (drop them with --drop)`);
  } finally {
    await ch.close();
  }
}

if (args['serve-api']) await serveApi();
else if (args['serve-pump']) await servePump();
else await main();
