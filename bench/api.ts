// npm run bench:api — how fast the creator insights API answers over millions of raw events,
// next to what ClickHouse itself takes for the same SQL, and how ingestion at full speed
// affects it.
//
//  1. prepare (skipped with --reuse): a database `bench_api` and topics `bench-api.*`; a
//     generated catalog through the catalog processor; N generated events (default 5,000,000)
//     straight into Kafka with the generator's KafkaSink; then every processor (one
//     `viewpulse run processors` child) until every group committed the whole topic.
//  2. the API in its own process (rate limit off), a creator token for the creator with the
//     most views; the range is the last 7 days of the data (fixed from/to, tz UTC).
//  3. per route (overview, timeseries, realtime, videos, video stats, retention, breakdown):
//     autocannon at 1 and at 50 connections for a bounded time; p50, p99, requests/s. Each
//     measurement starts once ClickHouse runs no SELECT (the previous one's backlog drained).
//  4. the same route's SQL straight through the ClickHouse client: the API is run once against
//     a recording proxy in front of ClickHouse, which captures every query of the request (and
//     which ran concurrently); they are replayed with the same text and settings, in the same
//     waves, at 1 and at 50 concurrent callers. The ratio API / ClickHouse is reported.
//  5. every route again at 50 connections while the generator pumps new traffic into Kafka at
//     full speed and every processor consumes it; p50/p99 against the idle figures.
// Writes bench/results/api.json. The prepared database stays for `--reuse` (drop it with --drop).
//
//   npm run bench:api [-- --events 5000000 --reuse --duration 30 --connections 50 --drop]
//
// --duration is long on purpose: at 50 connections a heavy route answers in seconds, and
// autocannon drops the requests still running when the time is up.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { spawnProcessors, stopChild } from './children.js';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClickHouseSettings } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { signToken } from '../api/auth.js';
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
import { percentile, writeResults } from './results-file.js';
import { HOUR, DAY } from '../lib/time.js';

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
  path: string;
  headers: Record<string, string>;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
  /** seconds */
  timeout?: number;
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

// ---------------------------------------------------------------------------- options

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '5000000' },
    reuse: { type: 'boolean', default: false },
    drop: { type: 'boolean', default: false },
    database: { type: 'string', default: 'bench_api' },
    duration: { type: 'string', default: '30' },
    'serial-duration': { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    seed: { type: 'string', default: '11' },
    'serve-api': { type: 'boolean', default: false },
    'serve-pump': { type: 'boolean', default: false },
  },
});
const EVENTS = Number(args.events);
const DATABASE = args.database!;
const PREFIX = `${DATABASE.replaceAll('_', '-')}.`;
const DURATION = Number(args.duration);
const SERIAL_DURATION = Number(args['serial-duration']);
const CONNECTIONS = Number(args.connections);
const SEED = Number(args.seed);
const WARM_UP_SECONDS = 2;
const URL_MARK = 'bench-api-url:';
const PUMP_MARK = 'bench-pump-sent:';
const PLAY_EVENT_PROCESSORS = (Object.keys(PROCESSORS) as (keyof typeof PROCESSORS)[]).filter(
  (n) => PROCESSORS[n].inputTopic === 'playEvents',
);

const log = (line: string): void => console.error(`[bench:api] ${line}`);

function benchConfig(extra: Partial<Config['clickhouse']> = {}): Config {
  const base = loadConfig();
  return {
    ...base,
    kafka: { ...base.kafka, topicPrefix: PREFIX },
    clickhouse: { ...base.clickhouse, database: DATABASE, ...extra },
    logLevel: 'warn',
  };
}

const childEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  VIEWPULSE_TOPIC_PREFIX: PREFIX,
  VIEWPULSE_CLICKHOUSE_DATABASE: DATABASE,
  VIEWPULSE_LOG_LEVEL: 'warn',
  ...extra,
});

// ---------------------------------------------------------------------------- child processes

/** `viewpulse run processors` (every processor) on the bench topics and database. */
const startProcessors = (): ChildProcess => spawnProcessors(undefined, { prefix: PREFIX, database: DATABASE });

/** This file again in a child process, in one of its serve modes; resolves with the first marked line. */
async function startSelf(mode: '--serve-api' | '--serve-pump', env: Record<string, string>, mark: string) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), mode, '--database', DATABASE],
    {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
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

/** --serve-api: the API on a free port, rate limit off; prints its URL. */
async function serveApi(): Promise<void> {
  const api = await runApi(benchConfig(), { port: 0, options: { rateLimit: false } });
  console.log(`${URL_MARK} ${api.url}`);
  const done = (): void => void api.close().then(() => process.exit(0));
  process.on('SIGTERM', done);
  process.on('SIGINT', done);
}

/** --serve-pump: new generated traffic (its own catalog, already published) into Kafka at full speed until SIGTERM. */
async function servePump(): Promise<void> {
  const config = benchConfig();
  const kafka = createKafka(config.kafka);
  // Current traffic: visits from now on, simulated at about the rate the pump can send (20k
  // events/s), so event times follow the wall clock and the processors do their full work
  // (traffic from days ago would mostly be late events, set aside).
  const events = 50_000_000;
  const traffic = generateTraffic({
    events,
    seed: Number(process.env.BENCH_PUMP_SEED),
    start: Math.floor(Date.now() / 60_000) * 60_000,
    spanMs: Math.round((events / 20_000) * 1000),
  });
  const sink = new KafkaSink(kafka, new RegistryClient(config.registry.url), topics(PREFIX).playEvents, {
    chunk: 2000,
    maxInFlight: 8,
  });
  await sink.connect();
  const abort = new AbortController();
  process.on('SIGTERM', () => abort.abort());
  console.log(`${PUMP_MARK} 0`);
  const ticker = setInterval(() => console.log(`${PUMP_MARK} ${sink.stats().accepted}`), 1000);
  await pump(traffic, sink, { rate: 0, signal: abort.signal });
  clearInterval(ticker);
  console.log(`${PUMP_MARK} ${sink.stats().accepted}`);
  process.exit(0);
}

// ---------------------------------------------------------------------------- preparation

async function waitForProcessors(kafka: Kafka, timeoutMs: number): Promise<void> {
  for (const name of PLAY_EVENT_PROCESSORS)
    await waitForCommitted(kafka, groupIdOf(PREFIX, name), topics(PREFIX).playEvents, timeoutMs);
}

async function dropEverything(kafka: Kafka, ch: ClickHouseClient): Promise<void> {
  await exec(ch, sql`DROP DATABASE IF EXISTS ${v.ident(DATABASE)}`);
  const admin = kafka.admin();
  await admin.connect();
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(PREFIX));
  if (mine.length) await admin.deleteTopics({ topics: mine }).catch(() => undefined);
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(PREFIX));
  if (groups.length) await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
  // Topic deletion is asynchronous in Kafka: wait until the names are free again.
  for (let i = 0; i < 60; i++) {
    const a = kafka.admin();
    await a.connect();
    const left = (await a.listTopics()).filter((t) => t.startsWith(PREFIX));
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

async function readPrepared(ch: ClickHouseClient): Promise<Prepared | undefined> {
  const exists = await queryRows<{ n: string }>(
    ch,
    sql`SELECT count() AS n FROM system.tables WHERE database = ${v.string(DATABASE)} AND name = ${v.string(META)}`,
  );
  if (Number(exists[0]?.n) === 0) return undefined;
  const [row] = await queryRows<Prepared>(
    ch,
    sql`SELECT * FROM ${v.table(DATABASE, META)} ORDER BY prepared_at DESC LIMIT 1`,
  );
  return row ? { ...row, events: Number(row.events), seed: Number(row.seed) } : undefined;
}

async function prepare(config: Config, kafka: Kafka, ch: ClickHouseClient): Promise<Prepared> {
  log(`preparing ${DATABASE}: ${EVENTS} events (seed ${SEED}) into ${topics(PREFIX).playEvents}`);
  await dropEverything(kafka, ch);
  const p = await setUpPipeline(pipelineFor(config), 6);

  const traffic = generateTraffic({ events: EVENTS, seed: SEED, now: Date.now() });
  // The catalog first (the catalog processor alone), then every event straight into Kafka,
  // then the processors from offset 0 until they committed the whole topic.
  const catalogLoader = spawnProcessors(['catalog'], { prefix: PREFIX, database: DATABASE });
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
    processors = startProcessors();
    await waitForProcessors(kafka, 3 * 3_600_000);
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
      sql`CREATE TABLE IF NOT EXISTS ${v.table(DATABASE, META)} (
            events UInt64, seed UInt32, prepared_at DateTime, generate_seconds UInt32,
            catch_up_seconds UInt32, generate_events_per_s UInt32
          ) ENGINE = TinyLog`,
    );
    await ch.insert({ table: `${DATABASE}.${META}`, values: [prepared], format: 'JSONEachRow' });
    return prepared;
  } finally {
    await stopChild(catalogLoader);
    await stopChild(processors);
    await p.clickhouse.close();
  }
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

interface Stats {
  p50_ms: number;
  p99_ms: number;
  requests_per_s: number;
  requests: number;
}

/** `concurrency` callers of `fn` for `seconds`: latency percentiles and throughput. */
async function loop(fn: () => Promise<void>, concurrency: number, seconds: number): Promise<Stats> {
  const times: number[] = [];
  const until = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  times.sort((a, b) => a - b);
  return {
    p50_ms: round1(percentile(times, 50)),
    p99_ms: round1(percentile(times, 99)),
    requests_per_s: Math.round(times.length / elapsed),
    requests: times.length,
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

async function cannon(url: string, requests: AutocannonRequest[], connections: number, seconds: number) {
  const r = await autocannon({ url, connections, duration: seconds, requests, timeout: 30 });
  const failures: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(r.statusCodeStats ?? {}))
    if (!code.startsWith('2')) failures[code] = count;
  if (r.errors) failures.errors = r.errors;
  if (r.timeouts) failures.timeouts = r.timeouts;
  return {
    stats: {
      p50_ms: r.latency.p50,
      p99_ms: r.latency.p99,
      requests_per_s: Math.round(r['2xx'] / r.duration),
      requests: r['2xx'],
    } satisfies Stats,
    bad: r.non2xx + r.errors + r.timeouts,
    failures,
  };
}

// ---------------------------------------------------------------------------- main

interface Route {
  name: string;
  path: string;
}

async function main(): Promise<void> {
  if (!(EVENTS >= 1000) || !(DURATION >= 1) || !(CONNECTIONS >= 1)) throw new Error('bad arguments');
  const config = benchConfig();
  const kafka = createKafka(config.kafka);
  const ch = createClickHouse(config.clickhouse, 'default');
  const children: ChildProcess[] = [];
  // Ctrl-C: stop the children (API, processors, pump) before leaving.
  const interrupted = (): void => {
    log('interrupted: stopping the child processes');
    void Promise.all(children.map((c) => stopChild(c))).then(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  let proxy: Server | undefined;
  let failed = false;
  try {
    let prepared = args.reuse ? await readPrepared(ch) : undefined;
    if (args.reuse && !prepared) throw new Error(`--reuse: ${DATABASE} is not prepared; run once without --reuse`);
    if (prepared) {
      log(`reusing ${DATABASE}: ${prepared.events} events generated ${prepared.prepared_at} UTC`);
      // tables added since it was prepared (migrations are idempotent)
      await migrate(ch, DATABASE, join(projectRoot, 'schemas', 'clickhouse'));
    } else prepared = await prepare(config, kafka, ch);

    // What is in the database now, and the range: the last 7 days of the data.
    const db = (t: keyof typeof TABLES) => v.table(DATABASE, TABLES[t]);
    const [size] = await queryRows<{ raw: string; sessions: string; counts: string; last: number }>(
      ch,
      sql`SELECT (SELECT count() FROM ${db('playEvents')}) AS raw,
                 (SELECT count() FROM ${db('sessions')}) AS sessions,
                 (SELECT count() FROM ${db('counts')}) AS counts,
                 (SELECT toUInt32(max(window_start)) FROM ${db('counts')} WHERE grain = 'minute') AS last`,
    );
    const to = Math.ceil((Number(size!.last) * 1000 + 60_000) / HOUR) * HOUR;
    const from = to - 7 * DAY;
    const [top] = await queryRows<{ id: string; views: string }>(
      ch,
      sql`SELECT id, sum(views) AS views FROM ${db('counts')} FINAL
          WHERE dim = 'creator' AND grain = 'day' GROUP BY id ORDER BY views DESC, id LIMIT 1`,
    );
    const creator = top!.id;
    const [topVideo] = await queryRows<{ id: string }>(
      ch,
      sql`SELECT id FROM ${db('counts')} FINAL
          WHERE dim = 'video' AND grain = 'day'
            AND id IN (SELECT video_id FROM ${db('videos')} FINAL WHERE creator_id = ${v.string(creator)})
          GROUP BY id ORDER BY sum(views) DESC, id LIMIT 1`,
    );
    const video = topVideo!.id;
    const range = `from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}&tz=UTC`;
    const routes: Route[] = [
      { name: 'overview', path: `/v1/creators/${creator}/overview?${range}` },
      { name: 'timeseries', path: `/v1/creators/${creator}/timeseries?metric=views&interval=hour&${range}` },
      { name: 'realtime', path: `/v1/creators/${creator}/realtime` },
      { name: 'videos', path: `/v1/creators/${creator}/videos?sort=views&limit=20&${range}` },
      { name: 'video_stats', path: `/v1/videos/${video}/stats?interval=hour&${range}` },
      { name: 'retention', path: `/v1/videos/${video}/retention?${range}` },
      { name: 'breakdown', path: `/v1/videos/${video}/breakdown?dimension=country&${range}` },
    ];
    log(
      `data: ${size!.raw} raw events, ${size!.sessions} session rows, ${size!.counts} count rows; creator ${creator} (${top!.views} views), video ${video}; ${range}`,
    );
    const token = await signToken({
      secret: config.api.jwtSecret,
      sub: creator,
      role: 'creator',
      ttlSeconds: 6 * 3600,
    });
    const headers = { authorization: `Bearer ${token}` };

    // The SQL of each route: one request through an API that talks to ClickHouse via the proxy.
    const rec = await recordingProxy(config.clickhouse.url);
    proxy = rec.server;
    const capture = await startSelf('--serve-api', { VIEWPULSE_CLICKHOUSE_URL: rec.url }, URL_MARK);
    children.push(capture.child);
    const sqlOf = new Map<string, Captured[][]>();
    for (const r of routes) {
      // The last of three requests: by then the API's client holds warm keep-alive sockets, so
      // queries it sends together reach the proxy together (the waves are its real ones).
      for (let i = 0; i < 3; i++) {
        rec.records.length = 0;
        const res = await fetch(`${capture.first}${r.path}`, { headers });
        if (res.status !== 200) throw new Error(`${r.name}: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
      sqlOf.set(r.name, waves(rec.records));
    }
    if (process.env.BENCH_API_DUMP_SQL) {
      writeFileSync(process.env.BENCH_API_DUMP_SQL, JSON.stringify(Object.fromEntries(sqlOf), null, 2));
    }
    await stopChild(capture.child);
    proxy.close();
    proxy = undefined;

    const apiChild = await startSelf('--serve-api', {}, URL_MARK);
    children.push(apiChild.child);
    const apiUrl = apiChild.first;
    const direct = createClickHouse(config.clickhouse);

    /** Waits until ClickHouse runs no SELECT (the backlog of the previous measurement drained). */
    const quiet = async (): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const [r] = await queryRows<{ n: string }>(
          ch,
          sql`SELECT count() AS n FROM system.processes
              WHERE query LIKE 'SELECT%' AND query NOT LIKE '%system.processes%'`,
        );
        if (Number(r?.n) === 0) return;
        await new Promise((res) => setTimeout(res, 200));
      }
    };

    const perRoute: Record<string, object> = {};
    const idle: Record<string, Stats> = {};
    const requestsOf = (r: Route): AutocannonRequest[] => [{ method: 'GET', path: r.path, headers }];
    for (const r of routes) {
      const req = requestsOf(r);
      const ws = sqlOf.get(r.name)!;
      const replay = replayer(direct, ws);
      // warm both paths, then each measurement on a quiet ClickHouse
      await cannon(apiUrl, req, 4, WARM_UP_SECONDS);
      await loop(replay, 4, WARM_UP_SECONDS);
      await quiet();
      const serial = await cannon(apiUrl, req, 1, SERIAL_DURATION);
      await quiet();
      const chSerial = await loop(replay, 1, SERIAL_DURATION);
      await quiet();
      const loaded = await cannon(apiUrl, req, CONNECTIONS, DURATION);
      await quiet();
      const chLoaded = await loop(replay, CONNECTIONS, DURATION);
      await quiet();
      const bad = serial.bad + loaded.bad;
      if (bad) {
        failed = true;
        log(`${r.name}: ${JSON.stringify({ ...serial.failures, ...loaded.failures })} answers were not 2xx`);
      }
      idle[r.name] = loaded.stats;
      perRoute[r.name] = {
        path: r.path.replace(/\?.*/, ''),
        queries: ws.reduce((n, w) => n + w.length, 0),
        query_waves: ws.length,
        api_50_connections: loaded.stats,
        clickhouse_50_concurrent: chLoaded,
        ratio_api_to_clickhouse_p50_at_50: round2(loaded.stats.p50_ms / chLoaded.p50_ms),
        ratio_api_to_clickhouse_throughput_at_50: round2(loaded.stats.requests_per_s / chLoaded.requests_per_s),
        api_1_connection: serial.stats,
        clickhouse_1_caller: chSerial,
        ratio_api_to_clickhouse_p50_at_1: round2(serial.stats.p50_ms / chSerial.p50_ms),
        non_2xx: bad,
      };
      log(
        `${r.name}: API p50 ${loaded.stats.p50_ms} ms p99 ${loaded.stats.p99_ms} ms ${loaded.stats.requests_per_s} req/s · ClickHouse p50 ${chLoaded.p50_ms} ms p99 ${chLoaded.p99_ms} ms ${chLoaded.requests_per_s}/s · one at a time ${serial.stats.p50_ms} vs ${chSerial.p50_ms} ms`,
      );
    }
    await direct.close();

    // Every route again at 50 connections while ingestion runs at full speed: new traffic
    // pumped into Kafka by a child, every processor consuming it in another.
    const pumpSeed = 100_000 + (Date.now() % 1_000_000);
    // Only for its catalog (which depends on the seed alone), published before the pump starts.
    const pumpTraffic = generateTraffic({ events: 1000, seed: pumpSeed, now: Date.now() });
    const processors = startProcessors();
    children.push(processors);
    const pumpPipeline = pipelineFor(config);
    await publishCatalog(pumpPipeline, pumpTraffic, { runLoader: false, timeoutMs: 300_000 });
    await pumpPipeline.clickhouse.close();
    const pumper = await startSelf('--serve-pump', { BENCH_PUMP_SEED: String(pumpSeed) }, PUMP_MARK);
    children.push(pumper.child);
    let sent = 0;
    pumper.onLine((line) => {
      if (line.startsWith(PUMP_MARK)) sent = Number(line.slice(PUMP_MARK.length));
    });
    /** Records the view-counts group has committed, over all partitions. */
    const committed = async (): Promise<number> => {
      const admin = kafka.admin();
      await admin.connect();
      const [c] = await admin.fetchOffsets({
        groupId: `${PREFIX}viewpulse-view-counts`,
        topics: [topics(PREFIX).playEvents],
      });
      await admin.disconnect();
      return c!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
    };
    await new Promise((r) => setTimeout(r, 15_000)); // the producer and the processors at full speed
    const sentBefore = sent;
    const consumedBefore = await committed();
    const t0 = Date.now();
    const ingesting: Record<string, object> = {};
    let ingestBad = 0;
    for (const r of routes) {
      const busy = await cannon(apiUrl, requestsOf(r), CONNECTIONS, DURATION);
      ingestBad += busy.bad;
      if (busy.bad) log(`${r.name} while ingesting: ${JSON.stringify(busy.failures)} answers were not 2xx`);
      ingesting[r.name] = {
        idle: idle[r.name],
        while_ingesting: busy.stats,
        ratio_p99_ingesting_to_idle: round2(busy.stats.p99_ms / idle[r.name]!.p99_ms),
        ratio_p50_ingesting_to_idle: round2(busy.stats.p50_ms / idle[r.name]!.p50_ms),
      };
      log(
        `${r.name} while ingesting: p50 ${busy.stats.p50_ms} ms p99 ${busy.stats.p99_ms} ms ${busy.stats.requests_per_s} req/s (idle: p99 ${idle[r.name]!.p99_ms} ms)`,
      );
      await quiet();
    }
    const seconds = (Date.now() - t0) / 1000;
    const ingestPerS = Math.round((sent - sentBefore) / seconds);
    const processedPerS = Math.round(((await committed()) - consumedBefore) / seconds);
    log(`meanwhile ${ingestPerS} events/s went into Kafka and view-counts committed ${processedPerS} events/s`);
    if (ingestBad) failed = true;
    await stopChild(pumper.child);

    const [version] = await queryRows<{ v: string }>(ch, sql`SELECT version() AS v`);
    const figures = {
      raw_events_at_measurement: Number(size!.raw),
      session_rows: Number(size!.sessions),
      view_count_rows: Number(size!.counts),
      routes: perRoute,
      while_ingesting_50_connections: {
        ingest_events_per_s_into_kafka: ingestPerS,
        view_counts_committed_events_per_s: processedPerS,
        routes: ingesting,
        non_2xx: ingestBad,
      },
    };
    const command = `npm run bench:api -- --events ${EVENTS}${args.reuse ? ' --reuse' : ''} --duration ${DURATION} --connections ${CONNECTIONS}`;
    const file = writeResults(
      'api',
      command,
      {
        data: {
          database: DATABASE,
          generated_events: prepared.events,
          seed: prepared.seed,
          prepared_at: `${prepared.prepared_at} UTC`,
          generate_events_per_s: prepared.generate_events_per_s,
          processors_took_s: prepared.catch_up_seconds,
          note: 'generated straight into Kafka (6 partitions) with the generator KafkaSink, then every processor (one `viewpulse run processors` child) from offset 0 until committed; the generator default timeline (visits over min(3 days, events × 10 ms), ending before now)',
        },
        range: `the last 7 days of the data: ${range}`,
        creator: `${creator} (the creator with the most views), video ${video} (its top video); a creator token`,
        api: 'its own process (`runApi`, rate limit off), autocannon from this process (30 s request timeout)',
        routes: Object.fromEntries(routes.map((r) => [r.name, r.path])),
        clickhouse: `${version!.v}; the SQL each route sent (captured once through a recording proxy) replayed verbatim with @clickhouse/client, queries that ran together run together (Promise.all), waves in order; 1 and ${CONNECTIONS} concurrent callers`,
        durations_s: { at_50: DURATION, at_1: SERIAL_DURATION, warm_up: WARM_UP_SECONDS },
        order:
          'per route: warm-up (2 s, 4 callers) of the API and of the replay, then API at 1, ClickHouse at 1, API at 50, ClickHouse at 50; before each, wait until ClickHouse runs no SELECT (the backlog of the previous one drained)',
        ingestion:
          'every route again at 50 connections while new generated traffic (its own catalog, event times from now on) is pumped into Kafka by a KafkaSink child at full speed and every processor consumes it in a `viewpulse run processors` child; measured from 15 s after both started; compared with the idle figures at 50 connections',
        note: 'Kafka, the registry, ClickHouse, the processors, the API and the load generator all share this machine',
      },
      figures,
    );
    console.log(JSON.stringify(figures, null, 2));
    log(`wrote ${file}`);
    // Housekeeping for --reuse: let the processors finish what was pumped (bounded).
    log('letting the processors catch up with what was pumped (at most 10 min)…');
    await waitForProcessors(kafka, 600_000).catch((err: unknown) => log(`not caught up: ${(err as Error).message}`));
    await stopChild(processors);
    if (args.drop) {
      log(`dropping ${DATABASE} and the ${PREFIX}* topics`);
      await dropEverything(kafka, ch);
    } else log(`kept ${DATABASE} for --reuse (drop it with --drop)`);
  } finally {
    for (const c of children.reverse()) await stopChild(c);
    proxy?.close();
    await ch.close();
  }
  if (failed) process.exitCode = 1;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

if (args['serve-api']) await serveApi();
else if (args['serve-pump']) await servePump();
else await main();
