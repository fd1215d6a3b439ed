// npm run bench:recommendations — how good, how fast and how big the recommendations are.
//
//  1. quality: N generated records (default 400,000; seed 3; a 3-day span; the generator's
//     default catalog of 400 videos in 8 planted taste clusters) → a fresh play-events topic →
//     the recommendations processor as its own process (`viewpulse run processors --only
//     recommendations`): events/s from start until its checkpoints cover the topic, and peak
//     RSS → ClickHouse → recall@10 of same-cluster videos over the videos with ≥ 30 distinct
//     viewers, and the same for the "most popular videos" baseline
//     (harness/recommendations-quality.ts, processors/recommendations/quality.ts);
//  2. scale: a synthetic stream with V distinct viewers (default 1,000,000) over 24 h, each
//     watching two videos in one visit (two qualifying sessions of three events: play_start and
//     two heartbeats) → the processor as its own process: events/s and peak RSS with every
//     viewer's state live (closed sessions and closed windows are remembered for 24 h);
//  3. serving: GET /v1/videos/:id/recommendations on the insights API (buildApp, listening on
//     127.0.0.1) over the quality data, with autocannon: latency p50/p99/max and requests/s.
// Writes bench/results/recommendations.json.
//
//   npm run bench:recommendations [-- --events 400000 --viewers 1000000 --duration 15 --connections 10]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { buildApp } from '../api/app.js';
import { signToken } from '../api/auth.js';
import { videoAudiences } from '../api/queries/recommendations.js';
import { generateTraffic } from '../generator/index.js';
import { queryRows } from '../lib/clickhouse/client.js';
import { sql, v } from '../lib/clickhouse/sql.js';
import { AvroProducer } from '../lib/kafka/producer.js';
import { dayOf } from '../processors/recommendations/coview.js';
import { DEFAULT_RECOMMENDATIONS } from '../processors/recommendations/processor.js';
import { DEFAULT_READ } from '../processors/semantics.js';
import { playEventSchema } from '../schemas/avro.js';
import { TABLES } from '../schemas/tables.js';
import type { PlayEvent } from '../schemas/types.js';
import { evaluateQuality, MIN_VIEWERS_FOR_RECALL } from '../harness/recommendations-quality.js';
import { seedAndPump, seedCatalog } from '../harness/dataset.js';
import { endOffsets, pipeline, type Pipeline } from '../harness/pipeline.js';
import { groupIdOf } from '../runtime/registry.js';
import { committedRecords, waitForCommittedRecords } from '../lib/kafka/topics-admin.js';
import { percentile, writeResults } from './results-file.js';
import { produceAll, SYN_VIDEOS, synVideo, syntheticStream } from './synthetic.js';
import { spawnProcessors, timed } from './children.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '400000' },
    viewers: { type: 'string', default: '1000000' },
    duration: { type: 'string', default: '15' },
    connections: { type: 'string', default: '10' },
  },
});
const EVENTS = Number(args.events);
const VIEWERS = Number(args.viewers);
const DURATION_S = Number(args.duration);
const CONNECTIONS = Number(args.connections);

const log = (line: string): void => console.error(`[bench:recommendations] ${line}`);

// autocannon ships no types; this is the part of its API used here.
interface LatencyStats {
  average: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}
interface AutocannonResult {
  latency: LatencyStats;
  requests: LatencyStats & { total: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  setupRequest?: (req: AutocannonRequest) => AutocannonRequest;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const total = async (p: Pipeline): Promise<number> =>
  [...(await endOffsets(p.kafka, p.topics.playEvents)).values()].reduce((a, b) => a + b, 0);

/** The processor as its own process, from offset 0 until its checkpoints cover the topic. */
function timedRun(p: Pipeline, records: number): Promise<{ seconds: number; peakRssMb: number }> {
  return timed(spawnProcessors(['recommendations'], p), () =>
    waitForCommittedRecords(p.kafka, groupIdOf(p.prefix, 'recommendations'), p.topics.playEvents, records, 3_600_000),
  );
}

// ------------------------------------------------------------------ 1. quality

async function quality(p: Pipeline): Promise<Record<string, unknown>> {
  log(`quality: generating ${EVENTS} records (seed 3, 3 days) into ${p.topics.playEvents}`);
  const traffic = generateTraffic({
    events: EVENTS,
    seed: 3,
    spanMs: 3 * 86_400_000,
    now: Date.now(),
    faults: { malformed: 0 },
  });
  await seedAndPump(p, traffic, { chunk: 2000 });
  const truth = traffic.truth();
  const records = await total(p);
  const run = await timedRun(p, records);
  log(`quality run: ${records} records in ${run.seconds.toFixed(1)} s, peak RSS ${run.peakRssMb} MB`);
  const asOf = dayOf(truth.time.last_event);
  const q = await evaluateQuality({ clickhouse: p.clickhouse, database: p.database }, truth.clusters.videos, { asOf });
  log(
    `recall@10 ${q.recall_at_10.toFixed(3)} vs popular baseline ${q.baseline_recall_at_10.toFixed(3)} over ${q.eligible_videos} videos`,
  );
  return {
    records,
    distinct_events: truth.counts.events,
    viewers: truth.counts.viewers,
    sessions: truth.counts.sessions,
    videos: truth.catalog.videos,
    clusters: truth.clusters.names.length,
    run: { events_per_s: Math.round(records / run.seconds), peak_rss_mb: run.peakRssMb, seconds: run.seconds },
    ...q,
  };
}

// ------------------------------------------------------------------ 2. scale

async function scale(p: Pipeline): Promise<Record<string, unknown>> {
  const spanMs = 86_400_000;
  const start = Math.floor((Date.now() - spanMs - 3_600_000) / 60_000) * 60_000;
  await seedCatalog(
    p.clickhouse,
    p.database,
    Array.from({ length: SYN_VIDEOS }, (_, i) => ({
      video_id: synVideo(i),
      creator_id: `syn-c${i % 100}`,
      duration_ms: 600_000,
    })),
  );
  log(`scale: producing ${VIEWERS} viewers × 6 events into ${p.topics.playEvents}`);
  const producer = new AvroProducer<PlayEvent>(p.kafka, p.registry, {
    topic: p.topics.playEvents,
    schema: playEventSchema(),
    key: (e) => e.viewer_id,
  });
  await producer.connect();
  const t0 = Date.now();
  await produceAll(producer, syntheticStream(VIEWERS, start, spanMs));
  await producer.disconnect();
  const records = await total(p);
  log(`scale: ${records} records produced in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const run = await timedRun(p, records);
  const [counted] = await queryRows<{ viewers: string }>(
    p.clickhouse,
    sql`SELECT uniqExactMerge(viewers) AS viewers FROM ${v.table(p.database, TABLES.recommendationViewersDaily)}`,
  );
  const [pairs] = await queryRows<{ n: string }>(
    p.clickhouse,
    sql`SELECT sum(n) AS n FROM (SELECT uniqExactMerge(viewers) AS n FROM ${v.table(p.database, TABLES.recommendationPairsDaily)}
        WHERE video_id < related_id GROUP BY day, video_id, related_id)`,
  );
  log(`scale run: ${records} records in ${run.seconds.toFixed(1)} s, peak RSS ${run.peakRssMb} MB`);
  return {
    distinct_viewers: VIEWERS,
    records,
    span_hours: spanMs / 3_600_000,
    events_per_s: Math.round(records / run.seconds),
    peak_rss_mb: run.peakRssMb,
    seconds: run.seconds,
    viewers_with_written_windows: Number(counted?.viewers ?? 0),
    viewer_pairs_written: Number(pairs?.n ?? 0),
    committed_records: await committedRecords(p.kafka, groupIdOf(p.prefix, 'recommendations'), p.topics.playEvents),
  };
}

// ------------------------------------------------------------------ 3. serving

async function serving(p: Pipeline): Promise<Record<string, unknown>> {
  const db = { clickhouse: p.clickhouse, database: p.database };
  const videos = (await videoAudiences(db, {}))
    .filter((a) => a.viewers >= MIN_VIEWERS_FOR_RECALL)
    .map((a) => a.video_id);
  const app = buildApp({
    clickhouse: p.clickhouse,
    database: p.database,
    jwtSecret: p.testConfig.api.jwtSecret,
    rateLimit: false,
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = await signToken({ secret: p.testConfig.api.jwtSecret, sub: 'bench', role: 'admin', ttlSeconds: 3600 });
  let i = 0;
  const request: AutocannonRequest = {
    method: 'GET',
    path: '/',
    headers: { authorization: `Bearer ${token}` },
    setupRequest: (req) => ({ ...req, path: `/v1/videos/${videos[i++ % videos.length]}/recommendations?limit=10` }),
  };
  // warm up: one request per video, timed one at a time, too
  const single: number[] = [];
  for (const id of videos) {
    const t = performance.now();
    const res = await fetch(`${address}/v1/videos/${id}/recommendations?limit=10`, { headers: request.headers });
    await res.text();
    single.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`recommendations route answered ${res.status}`);
  }
  single.sort((a, b) => a - b);
  log(`serving: autocannon ${CONNECTIONS} connections × ${DURATION_S} s over ${videos.length} videos`);
  const r = await autocannon({ url: address, connections: CONNECTIONS, duration: DURATION_S, requests: [request] });
  await app.close();
  return {
    route: 'GET /v1/videos/:id/recommendations?limit=10',
    videos: videos.length,
    connections: CONNECTIONS,
    duration_s: DURATION_S,
    requests: r.requests.total,
    requests_per_s: Math.round(r.requests.average),
    latency_ms: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    non_2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    sequential_latency_ms: {
      p50: Math.round(percentile(single, 50) * 10) / 10,
      p99: Math.round(percentile(single, 99) * 10) / 10,
    },
  };
}

async function main(): Promise<void> {
  const p = await pipeline('benchrec', 6);
  const s = await pipeline('benchrecscale', 6);
  try {
    const q = await quality(p);
    const route = await serving(p);
    const big = await scale(s);
    const figures = {
      recall_at_10: Math.round((q.recall_at_10 as number) * 1000) / 1000,
      baseline_recall_at_10: Math.round((q.baseline_recall_at_10 as number) * 1000) / 1000,
      recall_ratio_to_baseline: Math.round((q.ratio as number) * 100) / 100,
      quality: q,
      events_per_s_1m_viewers: big.events_per_s,
      peak_rss_mb_1m_viewers: big.peak_rss_mb,
      scale: big,
      route_p99_ms: (route.latency_ms as { p99: number }).p99,
      serving: route,
    };
    const file = writeResults(
      'recommendations',
      'npm run bench:recommendations',
      {
        recall_at_10:
          `mean over videos with ≥ ${MIN_VIEWERS_FOR_RECALL} distinct co-view viewers of |top-10 ∩ same-cluster videos| / min(10, same-cluster videos − 1); ` +
          'fewer than 10 recommendations (k threshold) count as misses; baseline = the 10 most popular videos (most distinct viewers), v left out',
        quality_data: `${EVENTS} generated records, seed 3, 3-day span, generator defaults (400 videos, 40 creators, 8 taste clusters); topic with 6 partitions`,
        scale_data: `${VIEWERS} distinct viewers over 24 h, two qualifying sessions each (6 events per viewer), 2000 videos; topic with 6 partitions`,
        processor:
          'its own process via `viewpulse run processors --only recommendations`, from offset 0 until its checkpoints cover the topic',
        processor_options: {
          gap_minutes: DEFAULT_RECOMMENDATIONS.gapMs / 60_000,
          grace_minutes: DEFAULT_RECOMMENDATIONS.graceMs / 60_000,
          max_videos_per_window: DEFAULT_RECOMMENDATIONS.maxVideosPerWindow,
        },
        read_options: {
          half_life_days: DEFAULT_READ.halfLifeDays,
          lookback_days: DEFAULT_READ.lookbackDays,
          min_viewers: DEFAULT_READ.minViewers,
        },
        serving: `the insights API (buildApp) on 127.0.0.1 with real ClickHouse, autocannon in the same process, admin token, rate limit off`,
        note: 'Kafka, the registry, ClickHouse, the processor, the API and the load all share this 2-core machine',
      },
      figures,
    );
    console.log(JSON.stringify(figures, null, 2));
    log(`wrote ${file}`);
  } finally {
    await p.cleanup();
    await s.cleanup();
  }
}

await main();
